"""What the ``maga_corpus_refresh`` DAG's task bodies call: Params to config, one step
per task, the Asset event. Failures get their Airflow outcome from
:func:`maga.pipelines.airflow_glue.guarded`: no retry for a stopped gate or bad input,
and a scheduled run whose source or tool models are unusable is skipped."""

from __future__ import annotations

from typing import Any

from maga.log import get_logger
from maga.pipelines.airflow_glue import guarded, params_to_overrides, with_task_engines

log = get_logger("airflow")
__all__ = ["params_to_overrides"]  # one Params -> overrides mapping for both DAGs


def _ctx(run_uri: str, context: dict[str, Any]) -> Any:
    from maga.refresh.pipeline import DAG_ID
    from maga.runs.context import RunContext

    return RunContext.from_run_uri(run_uri, DAG_ID, context["run_id"])


def prepare_run(params: dict[str, Any], run_id: str) -> str:
    def body() -> str:
        from maga.refresh.pipeline import start_run

        ctx = start_run(params.get("profile") or "demo", params_to_overrides(params), run_id)
        log.info("run folder: %s", ctx.run_uri)
        return ctx.run_uri

    return guarded(body)


def discover_task(run_uri: str, context: dict[str, Any]) -> list[dict[str, Any]]:
    """The shards to map over (at most ``refresh.shard_limit``, none in a dry run). A run
    nobody triggered by hand (cron, new tool models) whose source or tool models are not
    usable is skipped with the reason, and so is everything after it."""
    from maga.corpus.reader import CorpusError
    from maga.refresh.pipeline import discover
    from maga.registry.manifest import ToolModelsNotFound

    return guarded(lambda: discover(_ctx(run_uri, context)), run_uri, context,
                   skip_when_scheduled=(CorpusError, ToolModelsNotFound))  # fmt: skip


def shard_step_task(step: str, run_uri: str, shard: dict[str, Any],
                    context: dict[str, Any]) -> dict[str, Any]:  # fmt: skip
    from maga.refresh.pipeline import run_shard_step

    def body() -> dict[str, Any]:
        ctx = _ctx(run_uri, context)
        return with_task_engines(ctx, lambda: run_shard_step(ctx, step, shard))

    stats = guarded(body, run_uri, context)
    keys = ("records", "accepted", "quarantined", "rewrites", "kept", "judged", "chunks")
    return {"shard": shard["uri"], **{k: stats[k] for k in keys if k in stats}}


def publish_task(run_uri: str, context: dict[str, Any], asset: Any = None) -> dict[str, Any]:
    from airflow.sdk.exceptions import AirflowSkipException

    from maga.refresh.pipeline import publish

    ctx = _ctx(run_uri, context)
    if not ctx.storage.exists(ctx.uri("discover", "_SUCCESS")):
        # discover failed or was skipped: its own task says why; nothing to publish
        raise AirflowSkipException("nothing to publish: discover produced no plan")
    stats = guarded(lambda: publish(ctx), run_uri, context)
    if asset is not None and stats.get("published"):
        context["outlet_events"][asset].extra = {
            "output": stats["output"], "run_uri": run_uri,
            "shards_published": len(stats["published"]), "rows": stats["rows_published"],
            "manifest": stats["artifacts"]["manifest"],
            "tool_model_version": stats["tool_model_version"],
        }  # fmt: skip
    return {k: stats.get(k) for k in ("docs_in", "docs_out", "rows_published", "dry_run")}


def export_mix_task(run_uri: str, context: dict[str, Any], asset: Any = None) -> dict[str, Any]:
    """The mix manifests; the mix Asset event (which schedules ``maga_mix_eval``) names
    the published corpus, the recipes written and this run."""
    from maga.refresh.pipeline import export_mix

    stats = guarded(lambda: export_mix(_ctx(run_uri, context)), run_uri, context)
    if asset is not None and stats.get("artifacts"):
        from maga.refresh.discover import read_plan

        context["outlet_events"][asset].extra = {
            "output": read_plan(_ctx(run_uri, context))["output"], "recipes": sorted(stats["artifacts"]),
            "run_uri": run_uri,
        }  # fmt: skip
    return {"written": stats.get("artifacts", {}), "skipped": stats.get("skipped", {})}


def finish_task(run_uri: str, context: dict[str, Any]) -> dict[str, Any]:
    """The run's verdict (runs whatever happened upstream): fails when a task before it
    failed for good, with that task's one-line reason, or when a shard was not
    published; skips when discover skipped the run (nothing was asked of it)."""
    from airflow.sdk.exceptions import AirflowFailException, AirflowSkipException

    from maga.refresh.pipeline import RefreshIncomplete, finish

    ctx = _ctx(run_uri, context)
    states = _upstream_states(context, ("discover", "publish", "export_mix"))
    broken = sorted(t for t, s in states.items() if s in ("failed", "upstream_failed"))
    if broken:
        from maga.runs.failures import read_failures

        why = {f["task_id"]: f["reason"] for f in read_failures(ctx.storage, run_uri)}
        detail = "; ".join(f"{t}: {why.get(t, 'see its log')}" for t in broken)
        log.error("finish: run failed: %s", detail)
        raise AirflowFailException(f"run failed: {detail}")
    if states.get("discover") == "skipped":
        raise AirflowSkipException("nothing to finish: discover skipped this run")
    try:
        stats = finish(ctx)
    except RefreshIncomplete as exc:
        log.error("finish: %s", exc)
        raise AirflowFailException(str(exc)) from None
    audit = stats.get("audit", {})
    return {"published": len(stats.get("published", [])), "rows": stats.get("rows_published"),
            **{f"records_{k}": audit.get(k) for k in ("published", "rejected", "unaccounted")}}  # fmt: skip


def _upstream_states(context: dict[str, Any], task_ids: tuple[str, ...]) -> dict[str, str]:
    """States of this run's (unmapped) tasks, as the scheduler has them."""
    ti = context["ti"]
    try:
        found = ti.get_task_states(dag_id=ti.dag_id, task_ids=list(task_ids),
                                   run_ids=[context["run_id"]])  # fmt: skip
    except Exception as exc:  # no answer: judge from the run folder alone
        log.warning("could not read the states of %s: %s", ", ".join(task_ids), exc)
        return {}
    return {t: str(s or "") for t, s in (found.get(context["run_id"]) or {}).items()}
