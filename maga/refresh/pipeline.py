"""The ``maga_corpus_refresh`` pipeline as plain functions (no Airflow import).

The DAG makes ``discover`` a task, the four shard steps a task group mapped over the
shards discover returns, then ``publish``, ``export_mix`` and ``finish``. :func:`run_all` runs the
same steps in order in one process, sharing one engine process across every shard
(the CLI's path, and the end-to-end tests'); a shard whose gate stops it or whose step
fails is recorded and the others go on, as with mapped tasks.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from maga.config import MagaConfig, load_config
from maga.gates.core import GateFailed
from maga.llm.jobs import EngineSession, open_session
from maga.log import get_logger
from maga.runs.context import RunContext
from maga.runs.stage import run_stage
from maga.steps import REFRESH_SHARD_STEPS

log = get_logger("refresh")
DAG_ID = "maga_corpus_refresh"
SHARD_STEPS = tuple(f"{s}_shard" for s in REFRESH_SHARD_STEPS)  # the task ids
MODEL_STEPS = ("reformulate_shard", "validate_shard")  # may load a model: model queue/pool


class RefreshIncomplete(RuntimeError):
    """Some shards were stopped by a gate or failed; the message names them."""


def start_run(
    profile: str, overrides: list[str] | dict[str, Any] | None, run_id: str
) -> RunContext:
    config: MagaConfig = load_config(profile, overrides)
    return RunContext.create(config, DAG_ID, run_id)


def discover(ctx: RunContext) -> list[dict[str, Any]]:
    """Plan the run; the shards to map over (none in a dry run)."""
    from maga.refresh.discover import DiscoverStage, mapped_shards, read_plan

    run_stage(ctx, DiscoverStage())
    return mapped_shards(read_plan(ctx))


def _step(name: str) -> Callable[..., dict[str, Any]]:
    if name == "gate_shard":
        from maga.refresh.shard_gate import gate_shard

        return lambda ctx, shard, session=None: gate_shard(ctx, shard)
    if name == "reformulate_shard":
        from maga.refresh.reformulate import reformulate_shard

        return reformulate_shard
    if name == "clean_shard":
        from maga.refresh.clean import clean_shard

        return lambda ctx, shard, session=None: clean_shard(ctx, shard)
    if name == "validate_shard":
        from maga.refresh.validate import validate_shard

        return validate_shard
    raise KeyError(name)


def run_shard_step(
    ctx: RunContext, step: str, shard: dict[str, Any], session: EngineSession | None = None
) -> dict[str, Any]:
    """One step for one shard; raises GateFailed when a gate stops the shard. Any other
    error is recorded as the step's outcome (``failed``, with the error's one line) for
    publish to account for the shard's records, then raised."""
    log.info("=== %s %s (%s) ===", step, shard["key"], shard["uri"])
    try:
        return _step(step)(ctx, shard, session=session)
    except GateFailed:
        raise
    except Exception as exc:
        from maga.runs.stage import record_step

        why = f"{type(exc).__name__}: {exc}".splitlines()[0][:500]
        try:
            record_step(ctx, shard["key"], step.removesuffix("_shard"), "failed", {}, why)
        except Exception:  # storage itself down: publish falls back to "did not finish"
            log.warning("could not record the failure of %s %s", step, shard["key"])
        raise


def review(ctx: RunContext, answer: Callable[[dict], dict] | None = None) -> dict[str, Any]:
    """The review request between validation and publish (maga.refresh.review); with
    ``answer`` (request -> keyword arguments of ``review.decide``) also the decision."""
    from maga.refresh import review as rv

    request = rv.request_review(ctx)
    if request["required"] and answer is not None:
        return rv.decide(ctx, request, **answer(request))
    return request


def publish(ctx: RunContext) -> dict[str, Any]:
    from maga.refresh.publish import PublishStage

    return run_stage(ctx, PublishStage())


def export_mix(ctx: RunContext) -> dict[str, Any]:
    """Training-mix manifests over everything published so far."""
    from maga.refresh.export_mix import ExportMixStage

    return run_stage(ctx, ExportMixStage())


def audit_run(ctx: RunContext) -> dict[str, Any]:
    """Audit the run's shards (every source record published or rejected with a
    reason?): ``<run>/audit/audit.json``, the summary's ``audit`` stage, report.json/md."""
    from maga.refresh.audit import audit
    from maga.refresh.discover import read_plan
    from maga.refresh.report import render_markdown
    from maga.runs.summary import refresh_summary

    plan, storage = read_plan(ctx), ctx.storage
    shards = [] if plan["dry_run"] else [s["uri"] for s in plan["shards"]]
    result = audit(storage, plan["output"], plan["source"], ctx.config.corpus, shards)
    storage.write_json(ctx.uri("audit", "audit.json"), result)
    storage.write_json(ctx.uri("audit", "stats.json"), {
        "docs_in": result["records"], "docs_out": result["published"] + result["rejected"],
        "dropped": result["unaccounted_by_why"], "unit": "source records",
        "published": result["published"], "rejected": result["rejected"],
        "unaccounted": result["unaccounted"], "rejected_by_reason": result["rejected_by_reason"],
        "artifacts": {"audit": ctx.uri("audit", "audit.json")}})  # fmt: skip
    if storage.exists(ctx.uri("report.json")):
        report = storage.read_json(ctx.uri("report.json"))
        report["audit"] = {k: v for k, v in result.items() if k != "per_shard"}
        storage.write_json(ctx.uri("report.json"), report)
        storage.write_text(ctx.uri("report.md"), render_markdown(report))
    refresh_summary(ctx)
    return result


def finish(ctx: RunContext) -> dict[str, Any]:
    """The run's verdict: audits the run's shards, then raises RefreshIncomplete when a
    source record is unaccounted for, or a shard was stopped or failed."""
    stats = ctx.storage.read_json(ctx.uri("publish", "stats.json"))
    failed = stats.get("failed") or {}
    result = audit_run(ctx)
    log.info(
        "refresh %s: %d shard(s) published, %d rows; %d source records: %d published, "
        "%d rejected, %d unaccounted; report %s",
        ctx.run_id,
        len(stats.get("published", [])),
        stats.get("rows_published", 0),
        result["records"],
        result["published"],
        result["rejected"],
        result["unaccounted"],
        ctx.uri("report.md"),
    )
    problems = []
    if result["unaccounted"]:
        problems.append(
            f"{result['unaccounted']} source record(s) neither published nor rejected "
            f"({result['unaccounted_by_why']}; see {ctx.uri('audit', 'audit.json')})"
        )
    if failed:
        detail = "; ".join(f"{uri}: {why}" for uri, why in sorted(failed.items()))
        problems.append(f"{len(failed)} shard(s) not published: {detail}")
    if problems:
        raise RefreshIncomplete("; ".join(problems))
    return {**stats, "audit": {k: v for k, v in result.items() if k != "per_shard"}}


def run_all(ctx: RunContext, session: EngineSession | None = None,
            answer: Callable[[dict], dict] | None = None) -> dict[str, Any]:  # fmt: skip
    """Every step in order in this process, one engine process for all shards; a review
    that is asked for is answered by ``answer`` (else publish publishes nothing)."""
    own = session is None
    session = session or open_session(ctx.config.runner.deterministic)
    try:
        for shard in discover(ctx):
            for step in SHARD_STEPS:
                try:
                    run_shard_step(ctx, step, shard, session)
                except GateFailed as exc:
                    log.error("%s %s: gate stopped the shard: %s", step, shard["key"], exc)
                    break
                except Exception:
                    log.exception(
                        "%s %s failed; the shard is left for the next run", step, shard["key"]
                    )
                    break
    finally:
        if own:
            session.close()
    review(ctx, answer)
    publish(ctx)
    export_mix(ctx)
    return finish(ctx)
