"""What the ``maga_mix_eval`` DAG's task bodies call: Params (or the refresh's mix
Asset event) to a run folder, plan, one arm per mapped task, summarise. Failures get
their Airflow outcome from :func:`maga.pipelines.airflow_glue.guarded`; a failed
enabled gate fails ``summarise`` at once, without a retry, after the report is
written."""

from __future__ import annotations

from typing import Any

from maga.log import get_logger
from maga.pipelines.airflow_glue import guarded, params_to_overrides

log = get_logger("airflow")


def _ctx(run_uri: str, context: dict[str, Any]) -> Any:
    from maga.mixeval.pipeline import DAG_ID
    from maga.runs.context import RunContext

    return RunContext.from_run_uri(run_uri, DAG_ID, context["run_id"])


def event_output(context: dict[str, Any]) -> str | None:
    """The published corpus named by the mix Asset event that triggered this run."""
    events = context.get("triggering_asset_events") or {}
    for evs in events.values():
        for ev in reversed(list(evs)):
            extra = getattr(ev, "extra", None) or {}
            if extra.get("output"):
                return str(extra["output"])
    return None


def prepare_run(params: dict[str, Any], context: dict[str, Any]) -> str:
    def body() -> str:
        from maga.mixeval.pipeline import start_run

        output = None if params.get("output") else event_output(context)
        ctx = start_run(params.get("profile") or "demo", params_to_overrides(params),
                        context["run_id"], output)  # fmt: skip
        log.info("run folder: %s", ctx.run_uri)
        return ctx.run_uri

    return guarded(body)


def plan_task(run_uri: str, context: dict[str, Any]) -> list[str]:
    from maga.mixeval.pipeline import plan
    from maga.mixeval.plan import NothingToEvaluate

    return guarded(lambda: plan(_ctx(run_uri, context)), run_uri, context,
                   skip_when_scheduled=(NothingToEvaluate,))  # fmt: skip


def train_task(run_uri: str, arm: str, context: dict[str, Any]) -> dict[str, Any]:
    from maga.mixeval.pipeline import train

    stats = guarded(lambda: train(_ctx(run_uri, context), arm), run_uri, context)
    return {"arm": arm, "loss": stats.get("loss"), "seconds": stats.get("seconds")}


def summarise_task(run_uri: str, context: dict[str, Any]) -> dict[str, Any]:
    from airflow.sdk.exceptions import AirflowFailException, AirflowSkipException

    from maga.mixeval.pipeline import summarise
    from maga.mixeval.summarise import GateStopped

    ctx = _ctx(run_uri, context)
    if not ctx.storage.exists(ctx.uri("plan", "_SUCCESS")):  # plan skipped: its log says why
        raise AirflowSkipException("nothing to summarise: plan did not run")
    try:
        out = guarded(lambda: summarise(_ctx(run_uri, context)), run_uri, context)
    except GateStopped as exc:
        log.error("summarise failed, not retried: %s", exc)
        raise AirflowFailException(str(exc)) from None
    return {"fingerprint": out["fingerprint"], "gate": out["gate"]["passed"],
            "loss": {a: g["all"]["mean"] for a, g in out["table"].items() if "all" in g}}  # fmt: skip
