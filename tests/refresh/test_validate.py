"""The refresh's judged sample is read by the judge operation, into the same fields the
teacher's judge stage writes (``score``, ``judge_reason``, ``judge_reject``); a failed
judgement is the same counted reject in both (scripted engines, no model)."""

from __future__ import annotations

import json

import pytest

from maga.jsonl import read_jsonl, write_jsonl
from maga.judging.judge import judge_rewrites
from maga.llm.base import GenResult, UsageCounter
from maga.llm.jobs import JobOutcome
from maga.operations.judge import FIELDS
from maga.refresh.layout import shard_paths
from maga.refresh.pipeline import DAG_ID
from maga.refresh.validate import judge_sample
from maga.runs.context import RunContext
from tests.refresh.helpers import docs, refresh_config

pytestmark = pytest.mark.timeout(60)
GOOD = json.dumps({"score": 4, "reason": "keeps facts"})


def answers(texts: list[str | None]):
    """One result per request in order: a text, or None for a failed request."""
    return [GenResult(text=t, finish_reason="stop") if t is not None
            else GenResult(text="", error="engine died") for t in texts]  # fmt: skip


class Scripted:
    """An ``EngineSession`` stand-in answering one generate call with ``results``."""

    def __init__(self, results: list[GenResult]) -> None:
        self.results, self.requests = results, []

    def generate(self, spec, requests):
        self.requests += requests
        usage = UsageCounter()
        usage.add(self.results, 0.01)
        return JobOutcome(self.results, usage)


def items(sources: list[dict]) -> list[dict]:
    return [{"id": f"{d['id']}#0", "source_id": d["id"], "genre": "A limerick.",
             "audience": "Sailors.", "text": " ".join(d["text"].split()[:20])}
            for d in sources]  # fmt: skip


def test_refresh_and_teacher_judges_write_the_same_fields(tmp_path, monkeypatch):
    cfg = refresh_config(str(tmp_path), str(tmp_path / "src"), str(tmp_path / "out"),
                         "refresh.judge=teacher")  # fmt: skip
    ctx = RunContext.create(cfg, DAG_ID, "r1")
    paths = shard_paths(cfg, {"key": "s", "fingerprint": "fp"})
    sources = docs("a", 3)
    write_jsonl(ctx.storage, paths.chunk("input", 0), sources)
    sample = items(sources)
    texts = [GOOD, "no score here", None]

    session = Scripted(answers(texts))
    stats = judge_sample(ctx, paths, 1, sample, session)
    refresh_rows = read_jsonl(ctx.storage, paths.stage("judge", "judged.jsonl"))
    assert [r.key for r in session.requests] == [f"judge:{it['id']}" for it in sample]
    assert stats["requested"] == 3 and stats["judged"] == 1

    def run_generation(spec, requests, *args, **kwargs):
        return Scripted(answers(texts)).generate(spec, requests)

    monkeypatch.setattr("maga.judging.judge.run_generation", run_generation)
    teacher_rows, _ = judge_rewrites(cfg, {d["id"]: d["text"] for d in sources}, sample)

    for refresh_row, teacher_row in zip(refresh_rows, teacher_rows, strict=True):
        assert list(refresh_row) == ["id", *FIELDS]
        assert {k: teacher_row[k] for k in refresh_row} == refresh_row
    assert [r["judge_reject"] for r in refresh_rows] == [
        None, "unparseable_judge_output", "generation_error:engine died"]  # fmt: skip
    assert refresh_rows[0]["judge_reason"] == "keeps facts"
    assert [r["kept"] for r in teacher_rows] == [True, False, False]
