"""What every operation shares: seeds, the prompted text, tolerant JSON reading, and
the one way a generation result becomes parsed fields or a counted reject.

An operation (distilabel's ``Task`` is the model) keeps together the prompt it renders,
the request it sends, its structured-output schema, its tolerant parser, the names of
its rejects and the fields it adds to an output row. Teacher stages, the evaluation of
the tool models and the corpus refresh all go through it, so a failed generation is the
same counted reject (``generation_error:<error>``) wherever it happens.
"""

from __future__ import annotations

import hashlib
import json
import re
from typing import TYPE_CHECKING, Any, ClassVar

from maga.llm.chat import has_thinking

if TYPE_CHECKING:
    from maga.config import MagaConfig
    from maga.llm.base import GenResult

#: Reject reason prefix of a request the engine or server could not answer.
GENERATION_ERROR = "generation_error"


def doc_seed(key: str, base: int = 0) -> int:
    """A per-request seed derived from its key: reruns sample the same tokens."""
    return (int.from_bytes(hashlib.sha256(key.encode()).digest()[:4], "big") + base) % (2**31)


def truncate(text: str, max_chars: int) -> tuple[str, bool]:
    """Cut at the last whitespace before ``max_chars``; the caller counts it."""
    if len(text) <= max_chars:
        return text, False
    cut = text[:max_chars]
    space = cut.rfind(" ")
    return (cut[:space] if space > max_chars // 2 else cut).rstrip(), True


def reject_kind(reject: str) -> str:
    """The name a reject is counted under: ``generation_error:timeout`` counts as
    ``generation_error``."""
    return reject.split(":", 1)[0]


_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
_THINK_BLOCK = re.compile(r"<think>.*?(?:</think>|$)", re.DOTALL)


def clean_text(text: str) -> str:
    """Drop control characters (grammar-constrained small models emit them raw)."""
    return _CONTROL.sub("", text).strip()


def answer_part(text: str) -> str:
    """``text`` without its thinking: blocks are removed (an unclosed one runs to the
    end), and before a lone ``</think>`` (the template opened the block) all is thinking.
    A structured answer is read from what is left, never from the reasoning."""
    if not has_thinking(text):
        return text
    text = _THINK_BLOCK.sub("", text)
    return text.rsplit("</think>", 1)[-1]


def load_json_object(text: str) -> Any:
    """Lenient json.loads (raw control characters allowed inside strings), falling back
    to the outermost {...} span, since models add chatter around the object."""
    try:
        return json.loads(text, strict=False)
    except json.JSONDecodeError:
        start, end = text.find("{"), text.rfind("}")
        if start == -1 or end <= start:
            raise
        return json.loads(text[start : end + 1], strict=False)


class Operation:
    """One MAGA operation. Subclasses define ``name``, :meth:`templates`, a
    ``request(cfg, key, ...)`` builder, :meth:`schema` (None: free text), :meth:`parse`,
    :meth:`failed` and :meth:`fields`; every parse result has a ``reject`` (None when
    the output is usable)."""

    name: ClassVar[str]

    def templates(self, cfg: MagaConfig) -> list[str]:
        """The prompt templates the requests render (fingerprints hash their text)."""
        raise NotImplementedError

    def schema(self, cfg: MagaConfig) -> dict[str, Any] | None:
        """The structured-output JSON schema, or None for free text."""
        return None

    def parse(self, text: str, *args: Any) -> Any:
        raise NotImplementedError

    def failed(self, reject: str) -> Any:
        """The parse result of an output that could not be read, rejected for ``reject``."""
        raise NotImplementedError

    def fields(self, parsed: Any) -> dict[str, Any]:
        """The output-row fields of a parse result, its reject included."""
        raise NotImplementedError

    def outcome(self, result: GenResult, *args: Any) -> Any:
        """The parse of a generation; a failed one is rejected as ``generation_error:<error>``."""
        if not result.ok:
            return self.failed(f"{GENERATION_ERROR}:{result.error}")
        return self.parse(result.text, *args)

    def row(self, result: GenResult, *args: Any) -> dict[str, Any]:
        """:meth:`fields` of :meth:`outcome`: what a generation adds to its output row."""
        return self.fields(self.outcome(result, *args))
