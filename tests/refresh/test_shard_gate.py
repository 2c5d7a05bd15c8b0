"""Input gate of one shard: every bad-record rule, chunking of good records, the bad-share
threshold, unreadable Parquet, and that a rerun reuses the scan but not the verdict."""

from __future__ import annotations

import json

import pytest

from maga.gates.core import GateFailed
from maga.refresh.pipeline import discover
from maga.refresh.shard_gate import gate_shard
from maga.runs.context import RunContext
from tests.refresh.helpers import docs


def _ctx(ws, run_id, *extra):
    return RunContext.create(ws.config(*extra), "maga_corpus_refresh", run_id)


def test_every_rule_quarantines_with_a_reason(ws):
    bad = [
        "{not json",
        '"a string"',
        {"text": "no id"},
        {"id": "n", "text": 42},
        {"id": "e", "text": "   "},
        {"id": "s", "text": "x"},  # shorter than min_doc_chars=2
        '{"id": "u", "text": "bad \\ud800 surrogate"}',  # lone surrogate, JSON-escaped
        {"id": "g-0", "text": "repeats an id"},
        {"id": "big", "text": "y" * 3000},  # above max_doc_chars=2000
    ]
    raw = b'{"id": "latin1", "text": "caf\xe9"}\n'
    ws.shard("a", docs("g", 40) + bad)
    with open(f"{ws.source}/a.jsonl", "ab") as fh:
        fh.write(raw)
    ctx = _ctx(
        ws, "r1", "refresh.min_doc_chars=2", "refresh.max_doc_chars=2000", "refresh.chunk_docs=16"
    )
    stats = gate_shard(ctx, discover(ctx)[0])
    assert stats["records"] == 50 and stats["accepted"] == 40 and stats["chunks"] == 3
    assert stats["quarantine_reasons"] == {
        "malformed_json": 2,
        "missing_field": 1,
        "not_text": 1,
        "empty_text": 1,
        "text_too_short": 1,
        "invalid_unicode": 1,
        "duplicate_id": 1,
        "text_too_long": 1,
        "invalid_utf8": 1,
    }
    assert stats["languages"] == {"en": 40}
    record = json.loads(ws.storage.read_text(ctx.uri("shards", stats_key(ctx), "gate.json")))
    assert record["status"] == "ok"


def stats_key(ctx):
    return ctx.storage.read_json(ctx.uri("discover", "plan.json"))["shards"][0]["key"]


def test_too_many_bad_records_stop_the_shard_and_thresholds_apply_on_rerun(ws):
    ws.shard("a", docs("g", 3) + ["{x", "{y"])
    ctx = _ctx(ws, "r1")
    shard = discover(ctx)[0]
    with pytest.raises(GateFailed, match=r"bad_record_share 0.4 > 0.2"):
        gate_shard(ctx, shard)
    gate = ws.storage.read_json(ctx.uri("gates", f"shard_input.{shard['key']}", "gate.json"))
    assert gate["passed"] is False
    looser = _ctx(ws, "r2", "refresh.bad_record_max_share=0.5")
    stats = gate_shard(looser, discover(looser)[0])  # staged scan, new verdict
    assert stats["accepted"] == 3


def test_one_bad_record_in_a_small_shard_is_advisory_below_the_minimum_count(ws):
    """tiny: share <= 0.2 from 2 bad records on. One bad of five (20 %, and 1 of 4 would
    be 25 %) warns; the report line says why it did not stop the shard."""
    ws.shard("a", docs("g", 3) + ["{x"])
    ctx = _ctx(ws, "r1")
    shard = discover(ctx)[0]
    assert gate_shard(ctx, shard)["quarantined"] == 1
    folder = ctx.uri("gates", f"shard_input.{shard['key']}")
    gate = ws.storage.read_json(f"{folder}/gate.json")
    check = next(c for c in gate["checks"] if c["name"] == "bad_record_share")
    assert gate["passed"] and not check["passed"] and check["blocking"] is False
    line = next(x for x in ws.storage.read_text(f"{folder}/gate.md").splitlines()
                if "bad_record_share" in x)  # fmt: skip
    assert "| warn |" in line and "below the 2 the share applies from" in line, line


def test_parquet_without_text_column_fails_the_schema_check(ws):
    ws.shard("p", [{"id": "1", "body": "text lives elsewhere"}], "parquet")
    ctx = _ctx(ws, "r1")
    with pytest.raises(GateFailed, match="schema_readable"):
        gate_shard(ctx, discover(ctx)[0])
