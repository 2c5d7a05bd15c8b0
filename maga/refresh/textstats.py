"""Text measures the cleaning step uses: words, keywords and their coverage, edge-line
keys for boilerplate, word shingles, and a fixed-size count-min sketch that counts in
how many source documents' outputs a shingle appears (memory independent of the shard).
"""

from __future__ import annotations

import hashlib
import re
from collections import Counter

import numpy as np

_WORD = re.compile(r"\w+", re.UNICODE)
_DIGITS = re.compile(r"\d+")
# Short function words of the corpus languages (en, fr, es, de); keywords skip them.
STOPWORDS = frozenset(
    """
a about above after again also an and any are as at be been before being below between
both but by can could did do does doing down during each few for from further had has
have having he her here hers him his how i if in into is it its itself just me more most
my no nor not now of off on once only or other our out over own same she should so some
such than that the their theirs them then there these they this those through to too
under until up very was we were what when where which while who whom why will with would
you your les des une dans pour avec sont est sur par plus pas qui que ces cette mais
aussi leur leurs ont été être entre comme tout tous elle elles nous vous ils los las una
unos unas para por con del como pero más sus entre sobre también este esta estos estas
fue ser son han había desde hasta porque cuando donde der die das und mit von den dem
ist sind wurde werden auch nicht eine einer eines auf für bei nach über
""".split()  # noqa: SIM905
)
_MASK = (1 << 64) - 1
_MULTS = np.array([0x9E3779B97F4A7C15, 0xC2B2AE3D27D4EB4F, 0x165667B19E3779F9,
                   0x27D4EB2F165667C5], dtype=np.uint64)  # fmt: skip


def words(text: str) -> list[str]:
    return _WORD.findall(text.lower())


def _stem(word: str) -> str:
    return word[:6]


def keywords(text: str, n: int) -> list[str]:
    """The ``n`` most frequent content words (>= 4 letters, not stopwords, not numbers),
    ties broken by first appearance."""
    counts = Counter(w for w in words(text) if len(w) >= 4 and not w.isdigit()
                     and w not in STOPWORDS)  # fmt: skip
    return [w for w, _ in counts.most_common(n)]


def keyword_coverage(source_keywords: list[str], rewrite: str) -> float:
    """Share of the source's keywords found in the rewrite (matching 6-letter stems, so
    inflected forms count). 1.0 when the source has no keywords."""
    if not source_keywords:
        return 1.0
    stems = {_stem(w) for w in words(rewrite)}
    return sum(_stem(k) in stems for k in source_keywords) / len(source_keywords)


def edge_key(line: str, n_words: int) -> str:
    """What identifies a first or last line as a repeat: its first words, digits
    normalised (so "Step 1:" and "Step 2:" match); the stripped line if it has none."""
    ws = words(_DIGITS.sub("0", line))
    return " ".join(ws[:n_words]) if ws else line.strip()


def norm_text(text: str) -> str:
    return " ".join(words(text))


def text_hash(text: str) -> bytes:
    return hashlib.blake2b(norm_text(text).encode(), digest_size=16).digest()


def shingles(text: str, n: int) -> set[int]:
    """64-bit hashes of the word ``n``-grams (one shingle for a shorter text)."""
    ws = words(text)
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
