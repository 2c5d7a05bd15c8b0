"""A person approves new tool models before ``register_tool_models`` (``maga_tool_models``;
``tool_models_review.mode``, off by default), after looking at Table 1 (SLM vs teacher)
and the quantization figures. The DAG asks through Airflow's human-in-the-loop operator
(:mod:`maga.pipelines.review_task`); the request and the answer live in the run folder
(``review/request.json``, ``review/decision.json``), and the register step refuses to
register without an approval when a review was asked for. A review nobody answers
within ``tool_models_review.timeout`` follows ``on_timeout`` (``reject`` by default)."""

from __future__ import annotations

import datetime as dt
from typing import Any

from maga.log import get_logger
from maga.refresh.review import ReviewError, ReviewPending
from maga.runs.context import RunContext

log = get_logger("tool_models.review")
APPROVE, REJECT = "Approve", "Reject"  # Airflow's UI shows these two as an approval
REOPENS = ("**Reject needs a comment.** A rejection without one is not taken: this review "
           "opens again.")  # fmt: skip


class ReviewRejected(ReviewError):
    """The reviewer rejected the tool models: nothing is registered."""


def _read(ctx: RunContext, *parts: str) -> dict[str, Any] | None:
    uri = ctx.uri(*parts)
    return ctx.storage.read_json(uri) if ctx.storage.exists(uri) else None


def request_review(ctx: RunContext) -> dict[str, Any]:
    cfg = ctx.config.tool_models_review
    request = {
        "run_id": ctx.run_id, "required": cfg.mode == "always", "mode": cfg.mode,
        "timeout_s": cfg.timeout, "on_timeout": cfg.on_timeout,
        "table1": _read(ctx, "eval_slm", "table1.json") or {},
        "quantized": _read(ctx, "eval_quantized", "comparison.json") or {},
        "requested_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
    }  # fmt: skip
    ctx.storage.write_json(ctx.uri("review", "request.json"), request)
    return request


def _pct(x: Any) -> str:
    return "-" if x is None else f"{float(x):.0%}"


def render_body(request: dict[str, Any], report_url: str | None = None) -> str:
    t, q = request["table1"], request["quantized"]
    lines = [
        "**Table 1 (judged share >= 3):** teacher "
        f"{_pct((t.get('teacher') or {}).get('share_ge3'))}, reformulation SLM "
        f"{_pct((t.get('slm') or {}).get('share_ge3'))}; GA-SLM valid JSON "
        f"{_pct(t.get('ga_slm_json_valid'))}",
        f"**Quantization ({q.get('scheme', '-')}):** SLM share >= 3 "
        f"{_pct(q.get('share_ge3_before'))} -> {_pct(q.get('share_ge3_after'))}; GA-SLM valid "
        f"JSON {_pct(q.get('ga_json_valid_before'))} -> {_pct(q.get('ga_json_valid_after'))}; "
        f"tokens/s {q.get('tokens_per_s_before', '-')} -> {q.get('tokens_per_s_after', '-')}",
    ]
    served = q.get("served") or {}
    if served:
        lines.append(
            "**The refresh will serve:** "
            + "; ".join(
                f"{role}: the {p['model']} model ({p['why']})" for role, p in served.items()
            )
        )
    if report_url:
        lines.append(f"[Data quality report of this run]({report_url})")
    lines.append(f"{REOPENS} Unanswered in {request['timeout_s']} s: {request['on_timeout']}.")
    return "\n\n".join(lines)


def decide(ctx: RunContext, approved: bool, *, reviewer: str | None, comment: str | None = None,
           at: str | None = None, timed_out: bool = False) -> dict[str, Any]:  # fmt: skip
    comment = (comment or "").strip() or None
    if not approved and comment is None and not timed_out:
        raise ReviewError("a rejection needs a comment (why the tool models are rejected)")
    decision = {"approved": approved, "reviewer": "timeout" if timed_out else reviewer or "unknown",
                "comment": comment or ("no answer in time" if timed_out else None),
                "at": at or dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
                "timed_out": timed_out}  # fmt: skip
    ctx.storage.write_json(ctx.uri("review", "decision.json"), decision)
    log.info("tool models %s: %s by %s", ctx.run_id, "approved" if approved else "rejected",
             decision["reviewer"])  # fmt: skip
    return decision


def check_register(ctx: RunContext) -> dict[str, Any] | None:
    """Before registering: the approval, or None when no review was asked for. Raises
    ReviewPending (asked, not answered) or ReviewRejected."""
    request = _read(ctx, "review", "request.json")
    if request is None and ctx.config.tool_models_review.mode == "never":
        return None
    if request is not None and not request["required"]:
        return None
    decision = _read(ctx, "review", "decision.json")
    if decision is None:
        raise ReviewPending("the review of these tool models was not answered: not registered")
    if not decision["approved"]:
        raise ReviewRejected(f"tool models rejected by {decision['reviewer']}: "
                             f"{decision['comment']}; not registered")  # fmt: skip
    return decision
