"""Text measures the cleaning step uses beside :mod:`maga.text` (keywords, coverage,
length ratio, boilerplate): exact-text hashes, word shingles, and a fixed-size count-min sketch that counts in
how many source documents' outputs a shingle appears (memory independent of the shard).
"""

from __future__ import annotations

import hashlib
import re

import numpy as np

from maga.text import tokens

_DIGITS = re.compile(r"\d+")

_MASK = (1 << 64) - 1
_MULTS = np.array([0x9E3779B97F4A7C15, 0xC2B2AE3D27D4EB4F, 0x165667B19E3779F9,
                   0x27D4EB2F165667C5], dtype=np.uint64)  # fmt: skip


def norm_text(text: str) -> str:
    return " ".join(tokens(text))


def text_hash(text: str) -> bytes:
    return hashlib.blake2b(norm_text(text).encode(), digest_size=16).digest()


def shingles(text: str, n: int) -> set[int]:
    """64-bit hashes of the word ``n``-grams (one shingle for a shorter text)."""
    ws = tokens(text)
    grams = [" ".join(ws[i : i + n]) for i in range(max(1, len(ws) - n + 1))] if ws else []
    return {int.from_bytes(hashlib.blake2b(g.encode(), digest_size=8).digest(), "big")
            for g in grams}  # fmt: skip


def jaccard(a: set[int], b: set[int]) -> float:
    if not a or not b:
        return 0.0
    return len(a & b) / len(a | b)


class CountMinSketch:
    """Approximate counts (never below the true count) in ``depth x 2**width_bits``
    uint32 cells: 16 MiB by default, whatever the number of distinct items."""

    def __init__(self, width_bits: int = 20, depth: int = 4) -> None:
        self.shift = np.uint64(64 - width_bits)
        self.mults = _MULTS[:depth]
        self.table = np.zeros((depth, 1 << width_bits), dtype=np.uint32)

    def _cols(self, items: list[int]) -> np.ndarray:
        h = np.array([i & _MASK for i in items], dtype=np.uint64)
        with np.errstate(over="ignore"):
            return ((h[None, :] * self.mults[:, None]) >> self.shift).astype(np.int64)

    def add(self, items: set[int]) -> None:
        if not items:
            return
        cols = self._cols(list(items))
        for row in range(cols.shape[0]):
            np.add.at(self.table[row], cols[row], 1)

    def counts(self, items: list[int]) -> np.ndarray:
        if not items:
            return np.zeros(0, dtype=np.uint32)
        cols = self._cols(items)
        rows = np.arange(cols.shape[0])[:, None]
        return self.table[rows, cols].min(axis=0)
