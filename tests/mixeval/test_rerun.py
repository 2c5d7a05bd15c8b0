"""The evaluation's fingerprint: the same mix with the same settings is skipped, and a
changed mix or changed proxy settings are evaluated again (plan step only: training is
covered by the DAG test)."""

from __future__ import annotations

import pytest

from maga.mixeval.pipeline import DAG_ID
from maga.mixeval.plan import NothingToEvaluate, PlanStage, read_plan, registry_root
from maga.runs.context import RunContext
from maga.runs.stage import run_stage
from maga.storage import join_uri
from tests.refresh.helpers import docs

pytestmark = [pytest.mark.timeout(300)]


def _plan(ws, run_id: str, *extra: str) -> dict:
    ctx = RunContext.create(ws.config("mix_eval.heldout_docs=8", *extra), DAG_ID, run_id)
    run_stage(ctx, PlanStage())
    return read_plan(ctx)


def _record(ws, ctx_plan: dict) -> None:
    """What summarise leaves in the registry of evaluations."""
    ctx = RunContext.create(ws.config("mix_eval.heldout_docs=8"), DAG_ID, "any")
    uri = join_uri(registry_root(ctx), ctx_plan["fingerprint"], "result.json")
    ws.storage.write_json(uri, {"fingerprint": ctx_plan["fingerprint"]})


def test_same_mix_skipped_changed_mix_or_settings_evaluated(ws):
    ws.shard("a", docs("a", 4))
    ws.run("r1")
    first = _plan(ws, "e1")
    assert not first["skipped"] and "repetition_x4" in first["arms"]
    _record(ws, first)
    again = _plan(ws, "e2")
    assert again["skipped"] and again["arms"] == {} and again["fingerprint"] == first["fingerprint"]
    other = _plan(ws, "e3", "mix_eval.proxy.steps=7")  # settings change the output
    assert not other["skipped"] and other["fingerprint"] != first["fingerprint"]
    ws.shard("b", docs("b", 4, start=4))  # a new shard: the mixes change
    ws.run("r2")
    changed = _plan(ws, "e4")
    assert not changed["skipped"] and changed["fingerprint"] != first["fingerprint"]
    assert changed["real_tokens"] > first["real_tokens"]


def test_no_mixes_is_nothing_to_evaluate(ws):
    ctx = RunContext.create(ws.config(), DAG_ID, "e0")
    with pytest.raises(NothingToEvaluate, match="no training mixes"):
        run_stage(ctx, PlanStage())
