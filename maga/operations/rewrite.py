"""Rewrite (reformulation): the document rewritten for one (genre, audience) pair under
the configured prompt variant (Base, Strict or Relaxed template). Free text, no schema.

Rejects: ``empty_output`` and ``thinking_output`` (a reasoning trace must not reach the
judge or training data). Row field: ``text`` (stripped). The refresh's cleaning step
applies the same two rules after stripping boilerplate lines.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from maga.llm.base import GenRequest
from maga.llm.chat import THINKING_REJECT, has_thinking
from maga.operations.base import Operation, doc_seed
from maga.prompts.render import reformulate_messages

if TYPE_CHECKING:
    from maga.config import MagaConfig

EMPTY_REJECT = "empty_output"


@dataclass
class TextParse:
    text: str  # stripped; kept for a rejected thinking output (a sample of the drop)
    reject: str | None


def parse_text(text: str) -> TextParse:
    """A free-text generation: stripped, rejected when empty or holding thinking."""
    text = text.strip()
    if not text:
        return TextParse(text, EMPTY_REJECT)
    return TextParse(text, THINKING_REJECT if has_thinking(text) else None)


class Rewrite(Operation):
    name = "rewrite"

    def templates(self, cfg: MagaConfig) -> list[str]:
        return ["reformulate.system", f"reformulate.{cfg.generation.prompt_variant}.user"]

    def messages(self, cfg: MagaConfig, text: str, genre: str,
                 audience: str) -> list[dict[str, str]]:  # fmt: skip
        """The chat of a request (and of the reformulation SLM's training examples)."""
        return reformulate_messages(text, genre, audience, cfg.generation.prompt_variant)

    def request(self, cfg: MagaConfig, key: str, text: str, genre: str,
                audience: str) -> GenRequest:  # fmt: skip
        return GenRequest(
            messages=self.messages(cfg, text, genre, audience),
            max_tokens=cfg.generation.rewrite_max_tokens,
            temperature=cfg.teacher.temperature,
            top_p=cfg.teacher.top_p,
            seed=doc_seed(key, cfg.teacher.seed),
            key=key,
        )

    def parse(self, text: str) -> TextParse:
        return parse_text(text)

    def failed(self, reject: str) -> TextParse:
        return TextParse("", reject)

    def fields(self, parsed: TextParse) -> dict[str, Any]:
        return {"text": parsed.text}


REWRITE = Rewrite()
