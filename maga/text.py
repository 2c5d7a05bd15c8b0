"""Text measures said once: word tokens, n-grams, keywords and keyword coverage.

Cleaning drops a rewrite whose keyword coverage is below ``refresh.clean.min_keyword_
coverage``; the data-quality report shows the same coverage with the same keywords, so
the figure a user reads is the one the data was filtered on. Tokens are lower-cased
letter/digit runs, and every CJK character on its own (Chinese and Japanese are written
without spaces), for the n-gram steps (near-dup, decontamination) and metrics alike.
"""

from __future__ import annotations

import re
from collections import Counter

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
