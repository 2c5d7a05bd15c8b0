"""The approval before ``register_tool_models`` (maga.pipelines.tool_models_review): off
by default; when asked, the register step refuses without an approval, and says who
rejected and why."""

from __future__ import annotations

import pytest

from maga.config import load_config
from maga.pipelines import tool_models_review as tr
from maga.pipelines.tool_models import DAG_ID
from maga.refresh.review import ReviewError, ReviewPending
from maga.runs.context import RunContext


def _ctx(tmp_path, *extra: str) -> RunContext:
    cfg = load_config("tiny", [f"storage.root={tmp_path}", *extra])
    return RunContext.create(cfg, DAG_ID, "r1")


def test_off_by_default_registers_without_asking(tmp_path):
    ctx = _ctx(tmp_path)
    assert ctx.config.tool_models_review.mode == "never"
    assert tr.request_review(ctx)["required"] is False
    assert tr.check_register(ctx) is None


def test_asked_review_needs_an_approval_before_register(tmp_path):
    ctx = _ctx(tmp_path, "tool_models_review.mode=always")
    ctx.storage.write_json(ctx.uri("eval_slm", "table1.json"),
                           {"teacher": {"share_ge3": 0.9}, "slm": {"share_ge3": 0.75},
                            "ga_slm_json_valid": 1.0})  # fmt: skip
    ctx.storage.write_json(ctx.uri("eval_quantized", "comparison.json"),
                           {"scheme": "W8A16", "share_ge3_before": 0.75,
                            "share_ge3_after": 0.7, "tokens_per_s_before": 10,
                            "tokens_per_s_after": 14})  # fmt: skip
    request = tr.request_review(ctx)
    body = tr.render_body(request, "http://x/report")
    assert "teacher 90%, reformulation SLM 75%" in body and "W8A16" in body
    assert "75% -> 70%" in body and "tokens/s 10 -> 14" in body
    with pytest.raises(ReviewPending):
        tr.check_register(ctx)
    with pytest.raises(ReviewError, match="needs a comment"):
        tr.decide(ctx, False, reviewer="ada")
    tr.decide(ctx, False, reviewer="ada", comment="parity too low")
    with pytest.raises(tr.ReviewRejected, match="rejected by ada: parity too low"):
        tr.check_register(ctx)
    tr.decide(ctx, True, reviewer="ada")
    assert tr.check_register(ctx)["reviewer"] == "ada"


def test_register_step_refuses_without_the_asked_approval(tmp_path):
    from maga.pipelines.tool_models import run_step

    ctx = _ctx(tmp_path, "tool_models_review.mode=always")
    tr.request_review(ctx)
    with pytest.raises(ReviewPending, match="not registered"):
        run_step(ctx, "register_tool_models")


def test_the_review_says_which_student_the_refresh_will_serve():
    served = {"ga_slm": {"model": "trained", "why": "quantized 12.8 tok/s < 0.90 x trained "
                         "110.0 tok/s on this machine"},
              "reformulation_slm": {"model": "quantized", "why": "quantized 237.8 tok/s >= "
                                    "0.90 x trained 200.6 tok/s on this machine"}}  # fmt: skip
    request = {"table1": {}, "quantized": {"scheme": "w8a8-int8", "served": served},
               "timeout_s": 60, "on_timeout": "reject"}  # fmt: skip
    body = tr.render_body(request)
    assert "**The refresh will serve:** ga_slm: the trained model (quantized 12.8 tok/s" in body
    assert "reformulation_slm: the quantized model" in body
