"""The teacher's GA and rewrite stages apply the operations' parsers: every output is a
row or a counted drop under the operation's reject name, a failed generation included
(scripted engine, no model)."""

from __future__ import annotations

import json

import pytest

from maga.config import load_config
from maga.jsonl import read_jsonl, write_jsonl
from maga.labeling.ga_stage import TeacherGAStage
from maga.labeling.reformulate_stage import TeacherReformulateStage
from maga.llm.base import GenResult, UsageCounter
from maga.llm.jobs import JobOutcome
from maga.runs.context import RunContext

pytestmark = pytest.mark.timeout(60)


class ScriptedSession:
    """An engine session that answers requests, in order, with scripted results."""

    def __init__(self, results: list[GenResult], seen: list) -> None:
        self.results, self.seen = list(results), seen

    def stream(self, spec, groups):
        for group, requests in groups:
            self.seen.extend(requests)
            answer, self.results = self.results[: len(requests)], self.results[len(requests) :]
            usage = UsageCounter()
            usage.add(answer, 0.01)
            yield group, JobOutcome(answer, usage)

    def close(self) -> None:
        pass


def scripted(monkeypatch, module: str, results: list[GenResult]) -> list:
    """Answer the stage's generation (through maga.llm.kept, as the stage does) with
    ``results``; return the requests seen."""
    seen: list = []
    monkeypatch.setattr(
        "maga.llm.kept.open_session", lambda deterministic=None: ScriptedSession(results, seen)
    )
    return seen


@pytest.fixture
def ctx(tmp_path) -> RunContext:
    ctx = RunContext.create(load_config("tiny", [f"storage.root={tmp_path}"]), "maga_tool_models",
                            "t1")  # fmt: skip
    docs = [{"id": f"d{i}", "split": "train", "text": f"Document {i} about rivers."}
            for i in range(4)]  # fmt: skip
    write_jsonl(ctx.storage, ctx.uri("sample", "sample.jsonl"), docs)
    return ctx


def pairs(n: int) -> str:
    return json.dumps({"pairs": [{"genre": f"g{k}", "audience": f"a{k}"} for k in range(n)]})


def test_ga_stage_rows_and_counted_rejects(ctx, monkeypatch):
    n = ctx.config.generation.pairs_per_doc
    seen = scripted(monkeypatch, "maga.labeling.ga_stage", [
        GenResult(text=pairs(n), finish_reason="stop"),
        GenResult(text=pairs(n)[:30], finish_reason="length"),  # cut at max_tokens
        GenResult(text="Sure! Here they are:\n" + pairs(n), finish_reason="stop"),
        GenResult(text="", error="engine died"),
    ])  # fmt: skip
    stats = TeacherGAStage().run(ctx)
    assert [r.key for r in seen] == ["d0", "d1", "d2", "d3"]
    assert all(r.constraint.json_schema for r in seen)
    rows = read_jsonl(ctx.storage, stats.artifacts["labels"])
    assert [r["reject_reason"] for r in rows] == [
        None, "invalid_json", None, "generation_error:engine died"]  # fmt: skip
    assert [len(r["pairs"]) for r in rows] == [n, 0, n, 0]
    assert [("raw" in r) for r in rows] == [False, True, False, True]
    assert list(rows[0]) == ["id", "split", "valid", "reject_reason", "pairs"]
    assert dict(stats.dropped) == {"invalid_json": 1, "generation_error": 1}
    assert stats.docs_out == 2


def test_rewrite_stage_drops_failed_empty_and_thinking_outputs(ctx, monkeypatch):
    labels = [{"id": "d0", "split": "train", "valid": True, "reject_reason": None,
               "pairs": [{"genre": f"g{k}", "audience": f"a{k}"} for k in range(5)]}]  # fmt: skip
    write_jsonl(ctx.storage, ctx.uri("teacher_ga", "labels.jsonl"), labels)
    seen = scripted(monkeypatch, "maga.labeling.reformulate_stage", [
        GenResult(text="  A poem about rivers.  ", finish_reason="stop"),
        GenResult(text="A cut-off rewr", finish_reason="length"),
        GenResult(text=" \n ", finish_reason="stop"),
        GenResult(text="<think>\nplan\n</think>\nA song.", finish_reason="stop"),
        GenResult(text="", error="timeout after 3 retries"),
    ])  # fmt: skip
    stats = TeacherReformulateStage().run(ctx)
    assert [r.key for r in seen] == [f"d0#{k}" for k in range(5)]
    rows = read_jsonl(ctx.storage, stats.artifacts["rewrites"])
    assert [(r["id"], r["text"]) for r in rows] == [
        ("d0#0", "A poem about rivers."), ("d0#1", "A cut-off rewr")]  # fmt: skip
    assert list(rows[0]) == ["id", "source_id", "pair_index", "genre", "audience", "split",
                             "prompt_variant", "text", "finish_reason"]  # fmt: skip
    assert dict(stats.dropped) == {"empty_output": 1, "thinking_output": 1, "generation_error": 1}
    assert stats.extra["hit_max_tokens"] == 1
