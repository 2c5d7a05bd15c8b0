"""A person's review between validation and publish (maga.refresh.review), through the
CLI's path (``run_all`` with an answer) on local storage with the fake engine: what is
published, what the manifest, rejects, audit and card say, and what happens without an
answer, on a timeout and on a rejection without comment."""

from __future__ import annotations

from pathlib import Path

import pyarrow.parquet as pq
import pytest

from maga.refresh import review as rv
from maga.refresh.audit import audit
from maga.refresh.pipeline import DAG_ID, run_all
from maga.runs.context import RunContext
from tests.refresh.helpers import FakeSession, docs

pytestmark = pytest.mark.timeout(300)


def _run(ws, run_id: str, *extra: str, answer=None) -> RunContext:
    ctx = RunContext.create(ws.config(*extra), DAG_ID, run_id)
    run_all(ctx, FakeSession(), answer=answer)
    return ctx


def _audit(ws, ctx: RunContext) -> dict:
    return audit(ws.storage, str(ws.output), ws.source, ctx.config.corpus)


def test_selected_shard_published_the_other_rejected_by_review(ws):
    a, b = ws.shard("a", docs("a", 3)), ws.shard("b", docs("b", 2))
    seen = {}

    def answer(request: dict) -> dict:
        seen.update(request)
        keep = [k for k in request["shards"] if k.startswith("a")]
        return {"action": rv.PUBLISH_SELECTED, "shards": keep, "reviewer": "ada",
                "comment": "b reads badly"}  # fmt: skip

    ctx = _run(ws, "r1", "refresh.review.mode=always", answer=answer)
    assert seen["required"] and len(seen["shards"]) == 2
    f = seen["figures"]
    assert f["shards"] == 2 and f["rows"] > 0 and f["expansion"] > 0
    assert set(f["hygiene"]) >= {"language_mismatch", "pii_replaced"}
    body = rv.render_body(seen, "http://x/dags/d/runs/r/plugin/data-quality-report")
    for part in ("**Shards:** 2", "**Rows:**", "**Expansion:**", "**Judged share >= 3:**",
                 "**Hygiene:**", "**Warnings:**", "(http://x/dags/d/runs/r/plugin/"):  # fmt: skip
        assert part in body, part

    shards = ws.manifest()["shards"]
    assert shards[a]["status"] == "published"
    assert shards[a]["review"]["reviewer"] == "ada" and shards[a]["review"]["at"]
    assert shards[b]["status"] == "rejected" and shards[b]["step"] == "review"
    assert shards[b]["stopped_by"] == "review" and shards[b]["review"]["comment"] == "b reads badly"
    assert "rejected by ada: b reads badly" in shards[b]["reason"]
    assert not (ws.output / "data" / f"{shards[b]['key']}.parquet").exists()
    rej = pq.read_table(ws.output / "rejects" / f"{shards[b]['key']}.parquet").to_pylist()
    assert {r["reason"] for r in rej} == {"review_rejected"} and len(rej) == 2

    result = _audit(ws, ctx)
    assert result["unaccounted"] == 0 and result["rejected_by_reason"]["review_rejected"] == 2
    assert result["published"] == 3
    card = (ws.output / "README.md").read_text()
    assert "### Review before publishing" in card
    assert f"| {shards[a]['key']} | approved | ada |" in card
    assert f"| {shards[b]['key']} | rejected | ada |" in card


def test_unanswered_review_publishes_nothing(ws):
    ws.shard("a", docs("a", 2))
    ctx = RunContext.create(ws.config("refresh.review.mode=always"), DAG_ID, "r1")
    with pytest.raises(rv.ReviewPending, match="not answered"):
        run_all(ctx, FakeSession())
    assert not (ws.output / "data").exists() and not (ws.output / "manifest.json").exists()
    assert ws.storage.read_json(ctx.uri("review", "request.json"))["required"]


def test_timeout_rejects_every_shard_and_names_no_person(ws):
    a = ws.shard("a", docs("a", 2))

    def timed_out(request: dict) -> dict:  # what Airflow's timeout sweep answers
        return {"action": rv.REJECT, "reviewer": None, "timed_out": True}

    ctx = _run(ws, "r1", "refresh.review.mode=always", answer=timed_out)
    entry = ws.manifest()["shards"][a]
    assert entry["status"] == "rejected" and entry["review"]["reviewer"] == rv.TIMEOUT_REVIEWER
    assert not list((ws.output / "data").glob("*.parquet"))
    assert _audit(ws, ctx)["unaccounted"] == 0


def test_from_hitl_reads_airflow_response(ws, tmp_path: Path):
    ws.shard("a", docs("a", 2))
    ctx = RunContext.create(ws.config("refresh.review.mode=always"), DAG_ID, "r1")
    req = {"shards": ["k1", "k2"], "requested_at": "t0"}
    d = rv.from_hitl(ctx, req, {"chosen_options": [rv.PUBLISH_SELECTED],
                                "params_input": {"shards": ["k2"], "comment": ""},
                                "responded_by_user": {"id": "1", "name": "ada"},
                                "responded_at": "t1"})  # fmt: skip
    assert (d["approved"], d["rejected"], d["reviewer"], d["at"]) == (["k2"], ["k1"], "ada", "t1")
    d = rv.from_hitl(ctx, req, {"chosen_options": [rv.REJECT], "params_input": {},
                                "responded_by_user": None})  # fmt: skip
    assert d["timed_out"] and d["approved"] == [] and d["reviewer"] == "timeout"
    with pytest.raises(rv.ReviewError, match="needs a comment"):
        rv.from_hitl(ctx, req, {"chosen_options": [rv.REJECT], "params_input": {"comment": " "},
                                "responded_by_user": {"name": "ada"}})  # fmt: skip
    with pytest.raises(rv.ReviewError, match="no shard selected"):
        rv.decide(ctx, req, rv.PUBLISH_SELECTED, shards=[], reviewer="ada")
    with pytest.raises(rv.ReviewError, match="not shards of this review"):
        rv.decide(ctx, req, rv.PUBLISH_SELECTED, shards=["zz"], reviewer="ada")


def test_on_warning_asks_for_a_first_tool_model_version_only(ws):
    ws.shard("a", docs("a", 2))
    asked = []

    def answer(request: dict) -> dict:
        asked.append(request["warnings"])
        return {"action": rv.PUBLISH_ALL, "reviewer": "ada"}

    _run(ws, "r1", "refresh.review.mode=on_warning", answer=answer)
    assert asked and any("used for the first time" in w for w in asked[0])
    ws.shard("b", docs("b", 2))
    ctx = _run(ws, "r2", "refresh.review.mode=on_warning", "refresh.review.near_limit=1.0",
               answer=answer)  # fmt: skip
    request = ws.storage.read_json(ctx.uri("review", "request.json"))
    assert len(asked) == 1, asked  # v1 and the variant were published before: no question
    assert request["required"] is False and request["why"] == "no warning"


def test_cli_flags_answer_the_review(ws):
    import argparse

    from maga.refresh.review_cli import add_review_args, answer_from_args, ask

    parser = argparse.ArgumentParser()
    add_review_args(parser)
    with pytest.raises(SystemExit):  # a rejection without a comment is refused at once
        answer_from_args(parser.parse_args(["--reject"]), parser)
    a, b = ws.shard("a", docs("a", 2)), ws.shard("b", docs("b", 2))
    args = parser.parse_args(["--approve", "--reviewer", "ci"])
    extra, answer = answer_from_args(args, parser)
    assert extra == ["refresh.review.mode=always"]
    _run(ws, "r1", *extra, answer=answer)
    shards = ws.manifest()["shards"]
    assert {shards[a]["status"], shards[b]["status"]} == {"published"}
    assert shards[a]["review"]["reviewer"] == "ci"
    lines = iter(["x", "s", "k2", "", "ok"])
    got = ask({**_REQ, "shards": ["k1", "k2"]}, "ada", read=lambda _: next(lines))
    assert (got["action"], got["shards"], got["comment"]) == (rv.PUBLISH_SELECTED, ["k2"], "")
    lines = iter(["r", "", "too short"])
    got = ask(_REQ, "ada", read=lambda _: next(lines))
    assert (got["action"], got["comment"]) == (rv.REJECT, "too short")


_REQ = {"shards": ["k1"], "not_passed": [], "warnings": [], "tool_model_version": 1,
        "prompt_variant": "base", "timeout_s": 60, "on_timeout": "reject",
        "figures": {"shards": 1, "rows": 3, "kept": 3, "rewrites": 4, "records": 2,
                    "expansion": 1.5, "judged": 0, "judged_share_ge3": None,
                    "hygiene": {"language_mismatch": 0}}}  # fmt: skip


def test_a_refused_answer_is_kept_and_the_deadline_stays(ws):
    """What the review task does with an answer it cannot take (it then opens the review
    again, see maga.pipelines.review_task): the answer is kept, no decision is written,
    and the answer window keeps its first deadline, with at least a minute left."""
    import datetime as dt

    ctx = RunContext.create(ws.config("refresh.review.mode=always"), DAG_ID, "r1")
    at = dt.datetime(2026, 1, 2, 3, 4, 5, tzinfo=dt.UTC)
    for comment in ("", None):
        rv.refuse(ctx, {"chosen_options": [rv.REJECT], "params_input": {"shards": ["k1"],
                        "comment": comment}, "responded_by_user": {"id": "1", "name": "ada"},
                        "responded_at": at}, "a rejection needs a comment")  # fmt: skip
    kept = rv.read(ctx, "refused")["answers"]
    assert [(e["by"], e["action"], e["at"]) for e in kept] == [
        ("ada", rv.REJECT, at.isoformat())] * 2  # fmt: skip
    assert rv.read(ctx, "decision") is None
    assert "Reject run needs a comment" in rv.render_body(_REQ) and "opens again" in rv.REOPENS
    now = dt.datetime.now(dt.UTC)
    asked = (now - dt.timedelta(seconds=100)).isoformat(timespec="seconds")
    left = rv.remaining({"requested_at": asked, "timeout_s": 1000}).total_seconds()
    assert 895 <= left <= 901
    assert rv.remaining({"requested_at": asked, "timeout_s": 120}).total_seconds() == 60
    assert rv.remaining({}).total_seconds() == 60
