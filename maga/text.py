"""Text measures said once: word tokens, n-grams, keywords and keyword coverage, length
ratio, and what counts as boilerplate.

Cleaning drops a rewrite whose keyword coverage is below ``refresh.clean.min_keyword_
coverage``; the data-quality report shows the same coverage with the same keywords, so
the figure a user reads is the one the data was filtered on. Tokens are lower-cased
letter/digit runs, and every CJK character on its own (Chinese and Japanese are written
without spaces), for the n-gram steps (near-dup, decontamination) and metrics alike.
"""

from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Mapping

_TOKEN = re.compile(
    r"[\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\uac00-\ud7af]|[^\W_]+", re.UNICODE
)
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


def tokens(text: str) -> list[str]:
    return _TOKEN.findall((text or "").lower())


def ngrams(toks: list[str], n: int) -> list[str]:
    """Space-joined n-grams; none for a text shorter than n tokens."""
    return [" ".join(toks[i : i + n]) for i in range(len(toks) - n + 1)]


def _stem(word: str) -> str:
    return word[:6]


def keywords(text: str, n: int) -> list[str]:
    """The ``n`` most frequent content words (>= 4 letters, not stopwords, not numbers),
    ties broken by first appearance."""
    counts = Counter(w for w in tokens(text) if len(w) >= 4 and not w.isdigit()
                     and w not in STOPWORDS)  # fmt: skip
    return [w for w, _ in counts.most_common(n)]


def keyword_coverage(source_keywords: list[str], rewrite: str) -> float:
    """Share of the source's keywords found in the rewrite (matching 6-letter stems, so
    inflected forms count). 1.0 when the source has no keywords."""
    if not source_keywords:
        return 1.0
    stems = {_stem(w) for w in tokens(rewrite)}
    return sum(_stem(k) in stems for k in source_keywords) / len(source_keywords)


def source_coverage(source: str, rewrite: str, n: int) -> float | None:
    """Coverage of ``source``'s top-``n`` keywords in ``rewrite``; None when the source
    has no keywords (cleaning counts that as full coverage; a report leaves it out)."""
    kws = keywords(source, n)
    return keyword_coverage(kws, rewrite) if kws else None


def length_ratio(source: str, rewrite: str) -> float:
    """Characters of ``rewrite`` over characters of ``source`` (cleaning's length bounds
    and the report's length ratios)."""
    return len(rewrite) / max(1, len(source))


# --- boilerplate --------------------------------------------------------------------------
# A first or last line of a generation is boilerplate when it is a chat model's framing
# ("Sure! Here is the rewrite:", "I hope this helps!") in one of these known phrasings,
# or when the outputs of many different source documents share it (learned per shard:
# templated openings no list knows). Cleaning strips those lines; the data-quality
# report counts texts that have one. Both use what follows.
KNOWN_PHRASES: tuple[tuple[str, str], ...] = (
    ("please_note", r"\bplease note\b"),
    ("as_an_ai", r"\bas an ai\b"),
    ("here_is", r"^\s*(?:sure[,!.]?\s*)?here(?:'s| is) (?:a|an|the|your)\b"),
    ("certainly", r"^\s*(?:certainly|sure|of course|absolutely)[!,.]"),
    ("rewritten_version", r"\brewritten (?:version|text|document)\b"),
    ("i_hope", r"\bi hope (?:this|that|you)\b"),
    ("note_colon", r"^\s*note:"),
    ("let_me_know", r"\blet me know if\b"),
    ("in_this_rewrite", r"\bin this (?:rewrite|version|adaptation)\b"),
)
_PHRASES = [(name, re.compile(rx, re.IGNORECASE)) for name, rx in KNOWN_PHRASES]
MAX_EDGE_LINES = 3  # at most this many boilerplate lines at each end
_DIGITS = re.compile(r"\d+")
_PRUNE_AT = 200_000


def phrase_hits(line: str) -> list[str]:
    """Names of the known boilerplate phrasings in ``line``."""
    return [name for name, rx in _PHRASES if rx.search(line or "")]


def text_lines(text: str) -> list[str]:
    return [line for line in (text or "").splitlines() if line.strip()]


def edge_key(line: str, n_words: int) -> str:
    """What identifies a first or last line as a repeat: its first words, digits
    normalised (so "Step 1:" and "Step 2:" match); the stripped line if it has none."""
    ws = tokens(_DIGITS.sub("0", line))
    return " ".join(ws[:n_words]) if ws else line.strip()


class EdgeLearner:
    """Counts in how many source documents' outputs each first and last line (by
    :func:`edge_key`) occurs; fed one document's generations at a time. Memory is
    bounded by lossy counting (singletons are pruned past 200,000 keys)."""

    def __init__(self, key_words: int, min_docs: int, min_share: float) -> None:
        self.key_words, self.min_docs, self.min_share = key_words, min_docs, min_share
        self.first: Counter = Counter()
        self.last: Counter = Counter()
        self.docs = 0

    def add(self, texts: list[str]) -> None:
        self.docs += 1
        f, t = set(), set()
        for text in texts:
            lines = text_lines(text)
            if len(lines) > 1:
                f.add(edge_key(lines[0], self.key_words))
                t.add(edge_key(lines[-1], self.key_words))
        self.first.update(f)
        self.last.update(t)
        for counter in (self.first, self.last):
            if len(counter) > _PRUNE_AT:  # singletons cannot be boilerplate yet
                for key in [k for k, v in counter.items() if v <= 1]:
                    del counter[key]

    @property
    def threshold(self) -> int:
        return max(self.min_docs, math.ceil(self.min_share * self.docs))

    def learned(self) -> tuple[dict[str, int], dict[str, int]]:
        """(first lines, last lines) shared by at least :attr:`threshold` documents."""
        keep = lambda c: {k: v for k, v in c.most_common() if v >= self.threshold}  # noqa: E731
        return keep(self.first), keep(self.last)


def boilerplate_edges(text: str, first: Mapping[str, int], last: Mapping[str, int],
                      key_words: int, keep_one: bool = True,
                      ) -> tuple[list[str], list[str], list[str]]:  # fmt: skip
    """(leading boilerplate lines, trailing ones, why) of ``text``: learned repeats
    (``first``/``last``, keyed by :func:`edge_key`) or known phrasings, at most
    :data:`MAX_EDGE_LINES` at each end. With ``keep_one`` (stripping) at least one line is
    left over; without it (measuring) a text that is nothing but boilerplate shows too."""
    lines = text_lines(text)
    floor = 1 if keep_one else 0
    why: list[str] = []

    def is_edge(line: str, learned: Mapping[str, int], name: str) -> bool:
        hits = phrase_hits(line)
        if edge_key(line, key_words) in learned:
            hits.append(name)
        why.extend(hits)
        return bool(hits)

    lead = trail = 0
    while (lead < MAX_EDGE_LINES and len(lines) - lead - trail > floor
           and is_edge(lines[lead], first, "repeated_first_line")):  # fmt: skip
        lead += 1
    while (trail < MAX_EDGE_LINES and len(lines) - lead - trail > floor
           and is_edge(lines[-1 - trail], last, "repeated_last_line")):  # fmt: skip
        trail += 1
    return lines[:lead], lines[len(lines) - trail :], why


def strip_boilerplate(text: str, first: Mapping[str, int], last: Mapping[str, int],
                      key_words: int) -> tuple[str, int]:  # fmt: skip
    """``text`` without its boilerplate edge lines, and how many were removed."""
    lead, trail, _ = boilerplate_edges(text, first, last, key_words)
    if not lead and not trail:
        return text, 0
    lines = text_lines(text)
    return "\n".join(lines[len(lead) : len(lines) - len(trail)]).strip(), len(lead) + len(trail)
