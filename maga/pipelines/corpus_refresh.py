"""What the ``maga_corpus_refresh`` DAG's task bodies call: Params to config, one step
per task, the Asset event. Failures get their Airflow outcome from
:func:`maga.pipelines.airflow_glue.guarded`: no retry for a stopped gate or bad input,
and a scheduled run whose source or tool models are unusable is skipped."""

from __future__ import annotations

from typing import Any

from maga.log import get_logger
from maga.pipelines.airflow_glue import guarded, params_to_overrides

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
    from maga.refresh.toolmodels import ToolModelsNotFound

    return guarded(lambda: discover(_ctx(run_uri, context)), run_uri, context,
                   skip_when_scheduled=(CorpusError, ToolModelsNotFound))  # fmt: skip


def shard_step_task(step: str, run_uri: str, shard: dict[str, Any],
                    context: dict[str, Any]) -> dict[str, Any]:  # fmt: skip
    from maga.refresh.pipeline import run_shard_step

    stats = guarded(lambda: run_shard_step(_ctx(run_uri, context), step, shard), run_uri, context)
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


def export_mix_task(run_uri: str, context: dict[str, Any]) -> dict[str, Any]:
    from maga.refresh.pipeline import export_mix

    stats = guarded(lambda: export_mix(_ctx(run_uri, context)), run_uri, context)
    return {"written": stats.get("artifacts", {}), "skipped": stats.get("skipped", {})}


def finish_task(run_uri: str, context: dict[str, Any]) -> dict[str, Any]:
    from airflow.sdk.exceptions import AirflowFailException

    from maga.refresh.pipeline import RefreshIncomplete, finish

    try:
        stats = finish(_ctx(run_uri, context))
    except RefreshIncomplete as exc:
        log.error("finish: %s", exc)
        raise AirflowFailException(str(exc)) from None
    return {"published": len(stats.get("published", [])), "rows": stats.get("rows_published")}
