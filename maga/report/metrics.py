"""Text metrics for the data-quality report: distinct-n, boilerplate rate, length ratios
and judge-score shares. Pure Python, no model needed. Keyword coverage, boilerplate and
the length ratio are cleaning's own (:mod:`maga.text`), so the report shows the figures
the data was filtered on.

"Tokens" here are word tokens (runs of letters or digits), the same for every text,
so ratios between source and synthetic text are comparable across models.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from maga.text import EdgeLearner, boilerplate_edges, length_ratio, tokens


def words(text: str) -> list[str]:
    """Lower-cased word tokens (:func:`maga.text.tokens`)."""
    return tokens(text)


def n_words(text: str) -> int:
    return len(tokens(text))


def distinct_n(texts: Iterable[str], n: int) -> float | None:
    """Unique n-grams over all n-grams in ``texts`` (None when there are none)."""
    seen: set[tuple[str, ...]] = set()
    total = 0
    for text in texts:
        toks = words(text)
        grams = [tuple(toks[i : i + n]) for i in range(len(toks) - n + 1)]
        total += len(grams)
        seen.update(grams)
    return round(len(seen) / total, 6) if total else None


def boilerplate_stats(texts: Sequence[str], sources: Sequence[str] | None = None,
                      key_words: int = 4, min_docs: int = 3,
                      min_share: float = 0.05) -> dict[str, Any]:  # fmt: skip
    """Share of texts with a boilerplate first or last line, by cleaning's own definition
    (:func:`maga.text.boilerplate_edges`: a known phrasing, or a line the texts of many
    sources share, learned here from these texts with cleaning's settings), with counts
    per kind; ``sources`` are the texts' source ids (each text its own without them)."""
    keys = list(sources) if sources is not None else [str(i) for i in range(len(texts))]
    learner = EdgeLearner(key_words, min_docs, min_share)
    groups: dict[str, list[str]] = {}
    for text, key in zip(texts, keys, strict=True):
        groups.setdefault(key, []).append(text)
    for group in groups.values():
        learner.add(group)
    first, last = learner.learned()
    per_kind: Counter[str] = Counter()
    flagged = 0
    for text in texts:
        _, _, why = boilerplate_edges(text, first, last, key_words, keep_one=False)
        per_kind.update(set(why))
        flagged += bool(why)
    return {
        "rate": round(flagged / len(texts), 6) if texts else None,
        "flagged": flagged,
        "texts": len(texts),
        "patterns": dict(per_kind.most_common()),
        "frequent_openings": dict(list(first.items())[:10]),
    }


def length_ratios(pairs: Iterable[tuple[str, str]]) -> list[float]:
    """Cleaning's length ratio (:func:`maga.text.length_ratio`, characters) of each
    (source, rewrite) pair with a non-empty source."""
    return [round(length_ratio(source, rewrite), 6) for source, rewrite in pairs if source]


def describe(values: Sequence[float]) -> dict[str, float | int | None]:
    """Count, mean and quartiles of ``values`` (None entries when empty)."""
    vals = sorted(v for v in values if v is not None and not math.isnan(v))
    if not vals:
        return {"n": 0, "mean": None, "p10": None, "p50": None, "p90": None, "min": None,
                "max": None}  # fmt: skip

    def q(p: float) -> float:
        pos = p * (len(vals) - 1)
        lo, hi = math.floor(pos), math.ceil(pos)
        return round(vals[lo] + (vals[hi] - vals[lo]) * (pos - lo), 6)

    return {"n": len(vals), "mean": round(sum(vals) / len(vals), 6), "p10": q(0.1),
            "p50": q(0.5), "p90": q(0.9), "min": vals[0], "max": vals[-1]}  # fmt: skip


def score_counts(scores: Iterable[Any]) -> dict[str, int]:
    """Counts per judge score 1..5 plus ``unparsed`` (same keys as the pipeline's)."""
    counts = {str(s): 0 for s in range(1, 6)}
    counts["unparsed"] = 0
    for s in scores:
        try:
            key = str(int(s))
        except (TypeError, ValueError):
            key = "unparsed"
        counts[key if key in counts else "unparsed"] += 1
    return counts


def score_shares(counts: Mapping[str, int]) -> dict[str, float | int | None]:
    """Table 3 shares (>= 4, = 5, <= 2) and Table 1's >= 3 over the scored rows."""
    scored = sum(int(counts.get(str(s), 0)) for s in range(1, 6))

    def share(keys: Iterable[int]) -> float | None:
        return round(sum(int(counts.get(str(k), 0)) for k in keys) / scored, 6) if scored else None

    return {"scored": scored, "unparsed": int(counts.get("unparsed", 0)),
            "ge4": share((4, 5)), "eq5": share((5,)), "le2": share((1, 2)),
            "ge3": share((3, 4, 5))}  # fmt: skip


# The paper's Table 3 (share judged >= 4 / = 5 / <= 2) and Table 1 (share >= 3).
PAPER_TABLE3 = {
    "SLM-Base": {"ge4": 0.7106, "eq5": 0.2467, "le2": 0.0665},
    "SLM-Strict": {"ge4": 0.7837, "eq5": 0.4438, "le2": 0.0486},
    "SLM-Relaxed": {"ge4": 0.1363, "eq5": 0.0266, "le2": 0.6019},
}
PAPER_TABLE1 = {"teacher_share_ge3": 0.9311, "slm_share_ge3": 0.9206}
