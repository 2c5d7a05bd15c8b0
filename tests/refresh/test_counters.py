"""The refresh's counters are declared once (maga.refresh.counters): merging is typed,
and one added line carries a new figure to the report, the manifest and the card."""

from __future__ import annotations

import pytest

from maga.refresh import counters
from maga.refresh.counters import Count, merge, shard_counts
from tests.refresh.helpers import docs


def test_merge_adds_sums_and_maps_and_keeps_shard_values_apart():
    rows = [
        {"kept": 3, "dropped": {"too_short": 1}, "output_token_hist": {"<=64": 2, "<=8": 1},
         "expansion_ratio": 2.0},
        {"kept": 4, "dropped": {"too_short": 2, "low_coverage": 1},
         "output_token_hist": {"<=128": 1}, "expansion_ratio": 9.0},
        {},  # a shard that stopped before cleaning
    ]  # fmt: skip
    t = merge(rows)
    assert t["kept"] == 7 and t["rewrites"] == 0
    assert t["dropped"] == {"low_coverage": 1, "too_short": 3}
    assert list(t["output_token_hist"]) == ["<=8", "<=64", "<=128"]  # by bucket, not text
    assert "expansion_ratio" not in t  # a per-shard ratio is not summed


def test_a_counter_reads_nested_stats_and_defaults_when_a_step_is_missing():
    row = shard_counts({"clean": {"hygiene": {"languages_out": {"en": 4}}, "kept": 4}})
    assert row["languages_out"] == {"en": 4} and row["kept"] == 4
    assert row["records"] == 0 and row["output_mode"] == "documents"


def test_a_bad_merge_kind_is_refused_when_declared():
    with pytest.raises(ValueError, match="merge 'average'"):
        Count("x", "clean", "average")


def test_one_added_line_reaches_report_manifest_and_card(ws, monkeypatch):
    """What 'add a counter' costs: a Count naming a figure a step already computes."""
    new = Count("chunks", "gate", card="input chunks")
    monkeypatch.setattr(counters, "COUNTS", (*counters.COUNTS, new))
    ws.shard("a", docs("a", 5))
    ws.shard("b", docs("b", 3))
    ctx = ws.run("r1")
    report = ws.report(ctx)
    per_shard = {r["key"]: r["chunks"] for r in report["shards"]}
    assert sorted(per_shard.values()) == [2, 3]  # refresh.chunk_docs=2 in the fast tests
    assert report["totals"]["chunks"] == 5
    assert "chunks 5" in ws.storage.read_text(ctx.uri("report.md"))
    entries = ws.manifest()["shards"].values()
    assert sorted(e["stats"]["chunks"] for e in entries) == [2, 3]
    assert "| input chunks | 5 |" in (ws.output / "README.md").read_text()
