"""Token counts of published text, with the tokenizer a training run would see.

The corpus refresh picks the tokenizer (``maga.refresh.toolmodels.counter_for``).
Loaded once per process; counts exclude special tokens.
"""

from __future__ import annotations

from functools import cache
from typing import Any

from maga.log import get_logger

log = get_logger("megadocs.tokens")


@cache
def _load(path: str) -> Any:
    from transformers import AutoTokenizer

    log.info("token counts with the tokenizer of %s", path)
    return AutoTokenizer.from_pretrained(path)


class TokenCounter:
    def __init__(self, path: str) -> None:
        self.path = path
        self.tokenizer = _load(path)

    def count(self, text: str) -> int:
        return len(self.tokenizer(text, add_special_tokens=False)["input_ids"])

    def count_many(self, texts: list[str]) -> list[int]:
        if not texts:
            return []
        ids = self.tokenizer(texts, add_special_tokens=False)["input_ids"]
        return [len(x) for x in ids]
