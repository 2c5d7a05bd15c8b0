"""A person reviews a corpus refresh between validation and publish.

One module for the DAG (an Airflow human-in-the-loop task, see
:mod:`maga.pipelines.review_task`) and the CLI (``maga run corpus-refresh --review``,
``--approve`` / ``--reject``):

1. :func:`request_review` reads the run's validated shards and writes
   ``<run>/review/request.json``: the key figures (shards, rows, expansion, judged
   share >= 3, hygiene counts), every warning, and whether ``refresh.review.mode`` asks
   a person (``always``; ``on_warning``: a warning or a first-used tool-model version or
   prompt variant; ``never``);
2. the answer becomes a decision (:func:`decide`, or :func:`from_hitl` for Airflow's
   response), written to ``<run>/review/decision.json``: which shards are approved, by
   whom, when, with what comment. A rejection needs a comment;
3. publish (:func:`approved_keys`) publishes the approved shards only; the others are
   rejected with step ``review`` and their records go to ``rejects/`` with reason
   ``review_rejected``. Without a decision a review that was asked for publishes nothing.

An answer the review cannot take (a rejection without comment, no or unknown shards
selected) ends nothing: :func:`refuse` keeps it in ``<run>/review/refused.json`` and the
review opens again, with the same request and deadline (:func:`remaining`).

A review nobody answers within ``refresh.review.timeout`` follows
``refresh.review.on_timeout``: ``reject`` (a decision by ``timeout``) or ``fail``.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from maga.log import get_logger
from maga.runs.context import RunContext

log = get_logger("refresh.review")
PUBLISH_ALL, PUBLISH_SELECTED, REJECT = "Publish all", "Publish selected shards", "Reject run"
OPTIONS = [PUBLISH_ALL, PUBLISH_SELECTED, REJECT]
TIMEOUT_REVIEWER = "timeout"
REOPENS = ("**Reject run needs a comment.** A rejection without one is not taken: this review "
           "opens again (so it does after Publish selected shards with none selected).")  # fmt: skip
HYGIENE_DROPS = ("language_mismatch", "contaminated", "near_duplicate_corpus", "near_duplicate")


class ReviewError(ValueError):
    """An answer the review cannot take (a rejection without comment, unknown shards)."""


class ReviewPending(RuntimeError):
    """Publish was reached while a review was asked for and never answered."""


def _uri(ctx: RunContext, name: str) -> str:
    return ctx.uri("review", name)


def _first_use(ctx: RunContext, plan: dict[str, Any]) -> list[str]:
    """A tool-model version or prompt variant no published shard was made with yet."""
    from maga.refresh.manifest import load_manifest

    published = [e for e in load_manifest(ctx.storage, plan["output"])["shards"].values()
                 if e.get("status") == "published"]  # fmt: skip
    version, variant = plan["tool_models"]["version"], plan["prompt_variant"]
    out = []
    if not any(int(e.get("tool_model_version") or 0) == int(version) for e in published):
        out.append(f"tool-model version v{int(version):04d} is used for the first time")
    if not any(e.get("prompt_variant") == variant for e in published):
        out.append(f"prompt variant {variant!r} is used for the first time")
    return out


def _near_limits(totals: dict[str, Any], ctx: RunContext) -> list[str]:
    """Every blocking gate metric at ``review.near_limit`` of its limit or beyond."""
    from maga.refresh.gates import quality_metrics

    near = ctx.config.refresh.review.near_limit
    out = []
    for name, m in quality_metrics(totals, ctx.config.refresh).items():
        if not m.blocking or m.observed is None:
            continue
        value, limit = float(m.observed), float(m.threshold)
        if m.op == "<=" and limit > 0 and value >= near * limit:
            out.append(f"{name} {value:.3f} is near its limit {limit:g} (<=)")
        elif m.op == ">=" and value < limit / near:
            out.append(f"{name} {value:.3f} is near its limit {limit:g} (>=)")
    return out


def figures(rows: list[dict[str, Any]]) -> dict[str, Any]:
    """The key figures of the shards that passed their gates."""
    from maga.refresh.report import totals

    t = totals(rows)
    judged = t.get("judged", 0)
    prompted = t.get("reformulated_chars") or t.get("input_chars") or 0
    dropped = t.get("dropped", {})
    return {
        "shards": len(rows), "records": t.get("records", 0), "rows": t.get("output_rows")
        or t.get("kept", 0), "rewrites": t.get("rewrites", 0), "kept": t.get("kept", 0),
        "expansion": round(t.get("output_chars", 0) / prompted, 3) if prompted else None,
        "judged": judged, "judged_share_ge3": round((judged - t.get("low_scores", 0)) / judged, 3)
        if judged else None,
        "hygiene": {**{k: dropped.get(k, 0) for k in HYGIENE_DROPS},
                    "pii_replaced": sum(t.get("changed", {}).values())},
        "totals": t,
    }  # fmt: skip


def request_review(ctx: RunContext) -> dict[str, Any]:
    """Decide whether this run needs a person; ``<run>/review/request.json``."""
    from maga.refresh.discover import read_plan
    from maga.refresh.report import shard_summary
    from maga.runs.stage import shard_outcome

    plan, cfg = read_plan(ctx), ctx.config.refresh.review
    rows = [] if plan["dry_run"] else [shard_summary(s, shard_outcome(ctx, s["key"]))
                                       for s in plan["shards"]]  # fmt: skip
    ok = [r for r in rows if r["outcome"] == "ok"]
    fig = figures(ok)
    warnings = (_first_use(ctx, plan) + _near_limits(fig["totals"], ctx)) if ok else []
    needed = bool(ok) and (cfg.mode == "always" or (cfg.mode == "on_warning" and bool(warnings)))
    why = ("nothing to publish" if not ok else "review.mode is never" if cfg.mode == "never"
           else "review.mode is always" if cfg.mode == "always"
           else "warnings" if warnings else "no warning")  # fmt: skip
    request = {
        "run_id": ctx.run_id, "required": needed, "why": why, "mode": cfg.mode,
        "timeout_s": cfg.timeout, "on_timeout": cfg.on_timeout,
        "shards": [r["key"] for r in ok], "not_passed": [r["key"] for r in rows if r not in ok],
        "tool_model_version": plan["tool_models"]["version"],
        "prompt_variant": plan["prompt_variant"], "warnings": warnings,
        "figures": {k: v for k, v in fig.items() if k != "totals"},
        "per_shard": {r["key"]: {"rows": r.get("output_rows") or r["kept"],
                                 "expansion": r["expansion_ratio"], "judged": r["judged"],
                                 "low_scores": r["low_scores"]} for r in ok},
        "requested_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
    }  # fmt: skip
    ctx.storage.write_json(_uri(ctx, "request.json"), request)
    log.info("review %s: %s (%s); %d shard(s), %d warning(s)", ctx.run_id,
             "asked" if needed else "not needed", why, len(ok), len(warnings))  # fmt: skip
    return request


def render_body(request: dict[str, Any], report_url: str | None = None) -> str:
    """The request for people, in Markdown (the Airflow review screen, the terminal)."""
    f = request["figures"]
    share = "-" if f["judged_share_ge3"] is None else f"{f['judged_share_ge3']:.0%}"
    expansion = "-" if f["expansion"] is None else f"{f['expansion']:.2f}"
    hygiene = ", ".join(f"{k} {v}" for k, v in f["hygiene"].items())
    lines = [
        f"**Shards:** {f['shards']} ({', '.join(request['shards'])})",
        f"**Rows:** {f['rows']} ({f['kept']} of {f['rewrites']} rewrites kept, "
        f"{f['records']} source records)",
        f"**Expansion:** {expansion}",
        f"**Judged share >= 3:** {share} of {f['judged']} judged",
        f"**Hygiene:** {hygiene}",
        f"**Tool models:** v{int(request['tool_model_version']):04d}, prompt variant "
        f"{request['prompt_variant']}",
        "**Warnings:** " + ("; ".join(request["warnings"]) or "none"),
    ]
    if request["not_passed"]:
        lines.append(f"**Stopped by a gate (not reviewable):** {', '.join(request['not_passed'])}")
    if report_url:
        lines.append(f"[Data quality report of this run]({report_url})")
    lines.append(REOPENS + f" Unanswered in {request['timeout_s']} s: {request['on_timeout']}.")
    return "\n\n".join(lines)


def decide(ctx: RunContext, request: dict[str, Any], action: str, *,
           shards: list[str] | None = None, reviewer: str | None, comment: str | None = None,
           responded_at: str | None = None, timed_out: bool = False) -> dict[str, Any]:  # fmt: skip
    """Turn an answer into the decision publish follows; ``<run>/review/decision.json``."""
    comment = (comment or "").strip() or None
    if action == PUBLISH_ALL:
        approved = list(request["shards"])
    elif action == PUBLISH_SELECTED:
        unknown = sorted(set(shards or []) - set(request["shards"]))
        if unknown:
            raise ReviewError(f"not shards of this review: {', '.join(unknown)}")
        approved = [k for k in request["shards"] if k in set(shards or [])]
        if not approved:  # publishing none is a rejection: it needs its comment
            raise ReviewError("no shard selected: select shards to publish, or Reject run "
                              "with a comment")  # fmt: skip
    elif action == REJECT:
        if comment is None and not timed_out:
            raise ReviewError("a rejection needs a comment (why the run is rejected)")
        approved = []
    else:
        raise ReviewError(f"unknown review answer {action!r}; one of {OPTIONS}")
    decision = {
        "action": action, "approved": approved,
        "rejected": [k for k in request["shards"] if k not in approved],
        "reviewer": TIMEOUT_REVIEWER if timed_out else (reviewer or "unknown"),
        "comment": comment or ("no answer in time" if timed_out else None),
        "at": responded_at or dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "timed_out": timed_out, "requested_at": request.get("requested_at"),
    }  # fmt: skip
    ctx.storage.write_json(_uri(ctx, "decision.json"), decision)
    log.info("review %s: %s by %s: %d approved, %d rejected%s", ctx.run_id, action,
             decision["reviewer"], len(approved), len(decision["rejected"]),
             f" ({comment})" if comment else "")  # fmt: skip
    return decision


def from_hitl(ctx: RunContext, request: dict[str, Any], result: dict[str, Any]) -> dict[str, Any]:
    """A decision from Airflow's response: ``chosen_options``, ``params_input``
    (``shards``, ``comment``), ``responded_by_user`` (None on a timeout's default)."""
    params = result.get("params_input") or {}
    user = result.get("responded_by_user") or {}
    at = result.get("responded_at")
    return decide(ctx, request, (result.get("chosen_options") or [REJECT])[0],
                  shards=params.get("shards") or [], reviewer=user.get("name") or user.get("id"),
                  comment=params.get("comment"), timed_out=not user,
                  responded_at=at.isoformat() if hasattr(at, "isoformat") else at)  # fmt: skip


def refuse(ctx: RunContext, result: dict[str, Any], why: str) -> dict[str, Any]:
    """Keep an answer the review could not take (Airflow's response, as for
    :func:`from_hitl`) in ``<run>/review/refused.json``; the review then opens again."""
    params = result.get("params_input") or {}
    user = result.get("responded_by_user") or {}
    at = result.get("responded_at")
    entry = {"by": user.get("name") or user.get("id") or "unknown",
             "at": at.isoformat() if hasattr(at, "isoformat") else at,
             "action": (result.get("chosen_options") or [None])[0],
             "shards": params.get("shards"), "comment": params.get("comment"), "why": why}  # fmt: skip
    refused = read(ctx, "refused") or {"answers": []}
    refused["answers"].append(entry)
    ctx.storage.write_json(_uri(ctx, "refused.json"), refused)
    log.warning("review %s: answer refused (%s), the review opens again: %s", ctx.run_id,
                entry["action"], why)  # fmt: skip
    return entry


def remaining(request: dict[str, Any], at_least_s: float = 60) -> dt.timedelta:
    """What is left of the request's answer window, at least ``at_least_s``: a refused
    answer neither extends the wait nor leaves the reviewer no time to answer again."""
    least = dt.timedelta(seconds=at_least_s)
    if not request.get("requested_at") or not request.get("timeout_s"):
        return least
    asked = dt.datetime.fromisoformat(request["requested_at"])
    return max(asked + dt.timedelta(seconds=request["timeout_s"]) - dt.datetime.now(dt.UTC), least)


def read(ctx: RunContext, name: str) -> dict[str, Any] | None:
    uri = _uri(ctx, f"{name}.json")
    return ctx.storage.read_json(uri) if ctx.storage.exists(uri) else None


def approved_keys(ctx: RunContext) -> tuple[set[str] | None, dict[str, Any] | None]:
    """(approved shard keys, the decision) for publish; (None, None): no review was
    needed. Raises ReviewPending when a review was asked for and not answered."""
    request = read(ctx, "request")
    if request is None:
        if ctx.config.refresh.review.mode != "never" and not ctx.config.refresh.dry_run:
            raise ReviewPending(f"review.mode is {ctx.config.refresh.review.mode} but this "
                                "run has no review request: nothing is published")  # fmt: skip
        return None, None
    if not request["required"]:
        return None, None
    decision = read(ctx, "decision")
    if decision is None:
        raise ReviewPending(f"the review of run {ctx.run_id} was not answered: nothing is "
                            "published (answer it, or clear the review task to ask again)")  # fmt: skip
    return set(decision["approved"]), decision


def card_line(entry: dict[str, Any]) -> str | None:
    """One shard's review for the dataset card."""
    r = entry.get("review")
    if not r:
        return None
    verdict = "approved" if entry.get("status") == "published" else "rejected"
    note = f": {r['comment']}" if r.get("comment") else ""
    return f"| {entry['key']} | {verdict} | {r['reviewer']} | {r['at']} | {note.lstrip(': ')} |"
