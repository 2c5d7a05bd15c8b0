"""What the ``maga_corpus_refresh`` DAG's task bodies call: Params to config, one step
per task, a stopped gate as a task failure that is not retried, the Asset event."""

from __future__ import annotations

from typing import Any

from maga.log import get_logger

log = get_logger("airflow")


def params_to_overrides(params: dict[str, Any]) -> list[str]:
    """Map the UI form to config overrides; empty/zero fields keep the profile's value."""
    out: list[str] = []
    if params.get("source"):
        out.append(f"refresh.source_uri={params['source']}")
    if params.get("output"):
        out.append(f"refresh.output_uri={params['output']}")
    version = str(params.get("tool_model_version") or "").strip()
    if version:
        out.append(f"refresh.tool_model_version='{version}'")
    if params.get("shard_limit"):
        out.append(f"refresh.shard_limit={int(params['shard_limit'])}")
    if params.get("prompt_variant"):
        out.append(f"generation.prompt_variant={params['prompt_variant']}")
    if params.get("dry_run"):
        out.append("refresh.dry_run=true")
    if params.get("retry_rejected"):
        out.append("refresh.retry_rejected=true")
    if params.get("output_mode"):
        out.append(f"refresh.output_mode={params['output_mode']}")
    if params.get("generations_per_source"):
        out.append(f"refresh.generations_per_source={int(params['generations_per_source'])}")
    out.extend(params.get("overrides") or [])
    return out


def _ctx(run_uri: str, context: dict[str, Any]) -> Any:
    from maga.refresh.pipeline import DAG_ID
    from maga.runs.context import RunContext

    return RunContext.from_run_uri(run_uri, DAG_ID, context["run_id"])


def prepare_run(params: dict[str, Any], run_id: str) -> str:
    from maga.refresh.pipeline import start_run

    ctx = start_run(params.get("profile", "demo"), params_to_overrides(params), run_id)
    log.info("run folder: %s", ctx.run_uri)
    return ctx.run_uri


def discover_task(run_uri: str, context: dict[str, Any]) -> list[dict[str, Any]]:
    """The shards to map over (at most ``refresh.shard_limit``, none in a dry run)."""
    from maga.refresh.pipeline import discover

    return discover(_ctx(run_uri, context))


def shard_step_task(step: str, run_uri: str, shard: dict[str, Any],
                    context: dict[str, Any]) -> dict[str, Any]:  # fmt: skip
    from airflow.sdk.exceptions import AirflowFailException

    from maga.gates.core import GateFailed
    from maga.refresh.pipeline import run_shard_step

    try:
        stats = run_shard_step(_ctx(run_uri, context), step, shard)
    except GateFailed as exc:
        raise AirflowFailException(f"gate failed: {exc}") from None
    keys = ("records", "accepted", "quarantined", "rewrites", "kept", "judged", "chunks")
    return {"shard": shard["uri"], **{k: stats[k] for k in keys if k in stats}}


def publish_task(run_uri: str, context: dict[str, Any], asset: Any = None) -> dict[str, Any]:
    from airflow.sdk.exceptions import AirflowFailException

    from maga.gates.core import GateFailed
    from maga.refresh.pipeline import publish

    ctx = _ctx(run_uri, context)
    try:
        stats = publish(ctx)
    except GateFailed as exc:
        raise AirflowFailException(f"gate failed: {exc}") from None
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

    stats = export_mix(_ctx(run_uri, context))
    return {"written": stats.get("artifacts", {}), "skipped": stats.get("skipped", {})}


def finish_task(run_uri: str, context: dict[str, Any]) -> dict[str, Any]:
    from airflow.sdk.exceptions import AirflowFailException

    from maga.refresh.pipeline import RefreshIncomplete, finish

    try:
        stats = finish(_ctx(run_uri, context))
    except RefreshIncomplete as exc:
        raise AirflowFailException(str(exc)) from None
    audit = stats.get("audit", {})
    return {"published": len(stats.get("published", [])), "rows": stats.get("rows_published"),
            **{f"records_{k}": audit.get(k) for k in ("published", "rejected", "unaccounted")}}  # fmt: skip
