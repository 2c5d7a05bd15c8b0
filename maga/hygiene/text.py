"""Word tokens shared by the n-gram steps: lower-cased letter/digit runs, and every
CJK character on its own (Chinese and Japanese are written without spaces)."""

from __future__ import annotations

import re

_TOKEN = re.compile(
    r"[\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\uac00-\ud7af]|[^\W_]+", re.UNICODE
)


def tokens(text: str) -> list[str]:
    return _TOKEN.findall(text.lower())


def ngrams(toks: list[str], n: int) -> list[str]:
    """Space-joined n-grams; none for a text shorter than n tokens."""
    return [" ".join(toks[i : i + n]) for i in range(len(toks) - n + 1)]
