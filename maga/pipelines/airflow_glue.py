"""What the DAG's task bodies call: turn Params into config, run one step, translate
a failed gate into a task failure that is not retried, and emit the Asset event."""

from __future__ import annotations

from typing import Any

from maga.log import get_logger

log = get_logger("airflow")


def params_to_overrides(params: dict[str, Any]) -> list[str]:
    """Map the UI form to config overrides; empty/zero fields keep the profile's value."""
    out: list[str] = []
    if params.get("corpus_uri"):
        out.append(f"corpus.uri={params['corpus_uri']}")
    if params.get("id_field"):
        out.append(f"corpus.id_field={params['id_field']}")
    if params.get("text_field"):
        out.append(f"corpus.text_field={params['text_field']}")
    if params.get("sample_size"):
        out.append(f"sampling.size={int(params['sample_size'])}")
    if params.get("prompt_variant"):
        out.append(f"generation.prompt_variant={params['prompt_variant']}")
    if params.get("keep_threshold"):
        out.append(f"judge.keep_threshold={int(params['keep_threshold'])}")
    out.extend(params.get("overrides") or [])
    return out


def prepare_run(params: dict[str, Any], run_id: str) -> str:
    from maga.models.builtin import resolve_model
    from maga.pipelines.tool_models import start_run

    ctx = start_run(params.get("profile", "demo"), params_to_overrides(params), run_id)
    if ctx.config.teacher.backend == "vllm":
        resolve_model(ctx.config.teacher.path)  # build/convert built-in models once, here
    log.info("run folder: %s", ctx.run_uri)
    return ctx.run_uri


def run_step_task(run_uri: str, context: dict[str, Any], asset: Any = None) -> dict[str, Any]:
    from airflow.sdk.exceptions import AirflowFailException

    from maga.gates.core import GateFailed
    from maga.pipelines.tool_models import DAG_ID, run_step
    from maga.runs.context import RunContext

    task_id = context["ti"].task_id
    ctx = RunContext.from_run_uri(run_uri, DAG_ID, context["run_id"])
    try:
        result = run_step(ctx, task_id)
    except GateFailed as exc:
        raise AirflowFailException(f"gate failed: {exc}") from None
    if asset is not None and task_id == "register_tool_models":
        context["outlet_events"][asset].extra = {
            "version": result.get("version"),
            "manifest": result.get("artifacts", {}).get("manifest"),
            "run_uri": run_uri,
        }
    return {k: result.get(k) for k in ("docs_in", "docs_out", "passed", "reason") if k in result}
