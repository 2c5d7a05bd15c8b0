"""Rationale (megadocs ``stretch``): the rationale to insert after one passage of a
document, prompted with the document or a window around the passage. Free text, read
and rejected as a rewrite is (``empty_output``, ``thinking_output``); the cleaning step
also drops rationales under ``refresh.stretch.min_chars``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from maga.llm.base import GenRequest
from maga.operations.base import doc_seed, truncate
from maga.operations.rewrite import Rewrite
from maga.prompts.render import rationale_messages

if TYPE_CHECKING:
    from maga.config import MagaConfig


def context(cfg: MagaConfig, text: str, start: int, end: int) -> str:
    """The document as prompted: all of it when short, else a window around the passage
    of ``generation.max_input_chars`` characters."""
    limit = cfg.generation.max_input_chars
    if len(text) <= limit:
        return text
    half = max(0, (limit - (end - start)) // 2)
    lo = max(0, min(start - half, len(text) - limit))
    window, _ = truncate(text[lo:], limit)
    return window


class Rationale(Rewrite):
    name = "rationale"

    def templates(self, cfg: MagaConfig) -> list[str]:
        return ["rationale.system", "rationale.user"]

    def request(self, cfg: MagaConfig, key: str, text: str, start: int,  # type: ignore[override]
                end: int) -> GenRequest:  # fmt: skip
        return GenRequest(
            messages=rationale_messages(context(cfg, text, start, end), text[start:end]),
            max_tokens=cfg.refresh.stretch.max_tokens,
            temperature=cfg.teacher.temperature,
            top_p=cfg.teacher.top_p,
            seed=doc_seed(key, cfg.teacher.seed),
            key=key,
        )


RATIONALE = Rationale()
