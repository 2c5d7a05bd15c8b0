"""Every figure a corpus refresh counts, declared once.

A :class:`Count` names where a figure comes from (a shard step's stats), how it merges
across shards (``sum``, ``counts``: a ``{reason: n}`` map, ``hist``: a bucketed
histogram, ``shard``: one shard's value, not merged) and where it is shown. From this
table alone:

* the run report's per-shard rows (:func:`shard_counts`) and totals (:func:`merge`),
* the manifest entry of every processed shard (``manifest`` counts), and from it
* the dataset card's statistics (``card`` labels) and its per-reason tables.

Adding a counter is one line here (plus the step that computes it).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

MERGES = ("sum", "counts", "hist", "shard")


@dataclass(frozen=True)
class Count:
    name: str  # its key in shard rows, report totals and manifest entries
    step: str  # the shard step whose stats hold it
    merge: str = "sum"
    key: str | None = None  # its key in the step's stats, when not ``name`` ("a.b": nested)
    manifest: bool = True  # kept per shard in manifest.json (the card is built from it)
    card: str | None = None  # the card's label (a statistics row, or a table's heading)
    unit: str = "reason"  # what a ``counts`` table's keys are
    default: Any = None  # a missing ``shard`` value

    def __post_init__(self) -> None:
        if self.merge not in MERGES:
            raise ValueError(f"counter {self.name}: merge {self.merge!r} not in {MERGES}")

    def read(self, stats: Mapping[str, Any]) -> Any:
        value: Any = stats
        for part in (self.key or self.name).split("."):
            value = value.get(part) if isinstance(value, Mapping) else None
        if value is None:
            return {"sum": 0, "counts": {}, "hist": {}, "shard": self.default}[self.merge]
        return value


C = Count
COUNTS: tuple[Count, ...] = (
    # the input gate
    C("records", "gate", card="source records read"),
    C("accepted", "gate"),
    C("quarantined", "gate"),
    C("quarantine_reasons", "gate", "counts", card="Quarantined input records"),
    C("languages", "gate", "counts"),
    # reformulation
    C("ga_rejects", "reformulate", "counts"),
    C("truncated_docs", "reformulate"),
    C("split_docs", "reformulate"),
    C("parts_dropped", "reformulate"),
    C("truncated_chars", "reformulate"),
    C("engine_startup_seconds", "reformulate", "shard", manifest=False, default=0.0),
    # cleaning and assembly
    C("docs", "clean", card="source documents reformulated"),
    C("docs_with_output", "clean", card="documents with at least one kept rewrite"),
    C("rewrites", "clean", card="rewrites generated"),
    C("kept", "clean", card="rewrites kept"),
    C("input_chars", "clean"),
    C("reformulated_chars", "clean"),
    C("output_chars", "clean"),
    C("published_chars", "clean", manifest=False),
    C("output_rows", "clean"),
    C("source_tokens", "clean"),
    C("generation_tokens", "clean"),
    C("output_tokens", "clean"),
    C("expanded_tokens", "clean"),
    C("dropped", "clean", "counts", card="Dropped rewrites by reason"),
    C("changed", "clean", "counts", card="Rewrites changed (PII replaced by placeholders)"),
    C("languages_out", "clean", "counts", key="hygiene.languages_out",
      card="Language of kept rewrites (input: front matter)", unit="language"),
    C("doc_rejects", "clean", "counts", card="Source documents without output"),
    C("output_token_hist", "clean", "hist", manifest=False),
    C("source_token_hist", "clean", "hist", manifest=False),
    C("expansion_ratio", "clean", "shard", manifest=False, default=0.0),
    C("source_expansion_ratio", "clean", "shard", manifest=False, default=0.0),
    C("kept_share", "clean", "shard", manifest=False, default=0.0),
    C("output_mode", "clean", "shard", manifest=False, default="documents"),
    C("drop_examples", "clean", "shard", manifest=False, default={}),
    C("hygiene", "clean", "shard", manifest=False, default={}),
    C("boilerplate", "clean", "shard", manifest=False, default={}),
    # validation
    C("judge_requested", "validate"),
    C("judged", "validate"),
    C("low_scores", "validate"),
    C("score_histogram", "validate", "counts"),
)  # fmt: skip


def manifest_counts() -> tuple[str, ...]:
    """The counters each processed shard's manifest entry keeps."""
    return tuple(c.name for c in COUNTS if c.manifest and c.merge != "shard")


def shard_counts(stats_by_step: Mapping[str, Mapping[str, Any]]) -> dict[str, Any]:
    """One shard's figures from its steps' stats (a missing step counts 0)."""
    return {c.name: c.read(stats_by_step.get(c.step) or {}) for c in COUNTS}


def _hist_order(item: tuple[str, int]) -> tuple[int, str]:
    bound = item[0].lstrip("<=>")
    return (int(bound), item[0]) if bound.isdigit() else (1 << 62, item[0])


def merge(rows: Iterable[Mapping[str, Any]], names: Iterable[str] | None = None) -> dict[str, Any]:
    """Totals over shard rows (or manifest entries' stats): sums added, ``counts`` and
    ``hist`` maps added key by key; ``shard`` values are not merged."""
    by_name = {c.name: c for c in COUNTS}
    wanted = [by_name[n] for n in names] if names is not None else list(COUNTS)
    wanted = [c for c in wanted if c.merge != "shard"]
    sums: Counter = Counter()
    maps: dict[str, Counter] = {c.name: Counter() for c in wanted if c.merge != "sum"}
    for row in rows:
        for c in wanted:
            value = row.get(c.name)
            if not value:
                continue
            if c.merge == "sum":
                sums[c.name] += value
            else:
                maps[c.name].update(value)
    out: dict[str, Any] = {}
    for c in wanted:
        if c.merge == "sum":
            out[c.name] = sums[c.name]
        elif c.merge == "hist":
            out[c.name] = dict(sorted(maps[c.name].items(), key=_hist_order))
        else:
            out[c.name] = dict(sorted(maps[c.name].items()))
    return out
