"""Long-document policy, progress logging and the crash hook, without an engine."""

from __future__ import annotations

import logging
import signal

import pytest

from maga.config import load_config
from maga.refresh import reformulate
from maga.refresh.reformulate import Progress, doc_units, split_text


def test_split_text_prefers_boundaries_and_keeps_everything():
    text = "First paragraph is here.\n\nSecond one follows. It has two sentences. " * 5
    parts = split_text(text, 120)
    assert all(len(p) <= 120 for p in parts)
    assert " ".join(" ".join(parts).split()) == " ".join(text.split())
    assert split_text("x" * 250, 100) == ["x" * 100, "x" * 100, "x" * 50]


def test_doc_units_truncate_and_split_are_counted():
    doc = {"id": "d", "text": "word " * 400}
    cfg = load_config("tiny", ["generation.max_input_chars=500"])
    units, counts = doc_units(doc, cfg)
    assert len(units) == 1 and len(units[0]["text"]) <= 500
    assert counts["truncated_docs"] == 1 and counts["truncated_chars"] > 1400
    cfg = load_config(
        "tiny",
        ["generation.max_input_chars=500", "refresh.long_doc_policy=split", "refresh.max_parts=3"],
    )
    units, counts = doc_units(doc, cfg)
    assert [u["unit_id"] for u in units] == ["d~p0", "d~p1", "d~p2"]
    dropped = len(split_text(doc["text"], 500)) - 3
    assert (
        counts["split_docs"] == 1
        and counts["parts"] == 3
        and counts["parts_dropped"] == dropped >= 1
    )
    short = doc_units({"id": "s", "text": "short"}, cfg)
    assert short[0][0]["unit_id"] == "s" and not short[1]


def test_progress_logs_rate_eta_and_heartbeats(caplog):
    caplog.set_level(logging.INFO, logger="maga")
    p = Progress("reformulate k", docs=10, chunks=5, every_s=0.05)
    with p.running("ga", 0):
        import time

        time.sleep(0.2)
    p.chunk("ga", 0, 2, 200, 2.0)
    text = caplog.text
    assert "ga chunk 0 still generating" in text
    assert "2/10 docs through ga, 100.0 completion tok/s, ETA 18s" in text


def test_crash_hook_kills_only_when_asked(monkeypatch):
    killed = []
    monkeypatch.setattr(reformulate.os, "kill", lambda pid, sig: killed.append(sig))
    reformulate._maybe_crash(3)
    assert killed == []
    monkeypatch.setenv(reformulate.CRASH_ENV, "2")
    reformulate._maybe_crash(1)
    reformulate._maybe_crash(2)
    assert killed == [signal.SIGKILL]


@pytest.mark.parametrize(
    "params,expected",
    [
        ({}, []),
        (
            {
                "source": "s3://b/c",
                "output": "s3://b/o",
                "tool_model_version": "3",
                "shard_limit": 5,
                "prompt_variant": "strict",
                "dry_run": True,
                "retry_rejected": True,
                "output_mode": "stitch",
                "generations_per_source": 32,
                "overrides": ["refresh.chunk_docs=8"],
            },
            [
                "refresh.source_uri=s3://b/c",
                "refresh.output_uri=s3://b/o",
                "refresh.tool_model_version='3'",
                "refresh.shard_limit=5",
                "generation.prompt_variant=strict",
                "refresh.dry_run=true",
                "refresh.retry_rejected=true",
                "refresh.output_mode=stitch",
                "refresh.generations_per_source=32",
                "refresh.chunk_docs=8",
            ],
        ),
    ],
)
def test_params_to_overrides(params, expected):
    from maga.pipelines.corpus_refresh import params_to_overrides

    assert params_to_overrides(params) == expected
    cfg = load_config("tiny", params_to_overrides(params))
    if params:
        assert cfg.refresh.tool_model_version == "3" and cfg.refresh.dry_run
        assert cfg.refresh.retry_rejected
        assert cfg.refresh.output_mode == "stitch" and cfg.refresh.generations_per_source == 32
