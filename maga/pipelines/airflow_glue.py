"""What the DAGs' task bodies call: turn the Trigger form's Params into config
overrides (one mapping for both DAGs), run one step, and turn maga's errors into the
right Airflow outcome: a failed gate or an error that cannot heal (missing corpus,
unknown profile, bad override, missing field) fails the task at once without a retry,
with a one-line reason; anything else is re-raised and keeps the task's retries."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from maga.log import get_logger

log = get_logger("airflow")

# Trigger-form Param -> (config key, how the value is written). An empty field (None,
# "", 0, False or an empty list) keeps the profile's value; only the fields a DAG has
# are looked at, so both DAGs share this table.
PARAM_KEYS: dict[str, tuple[str, str]] = {
    "corpus_uri": ("corpus.uri", "str"),  # maga_tool_models
    "id_field": ("corpus.id_field", "str"),
    "text_field": ("corpus.text_field", "str"),
    "sample_size": ("sampling.size", "int"),
    "source": ("refresh.source_uri", "str"),  # maga_corpus_refresh
    "output": ("refresh.output_uri", "str"),
    "tool_model_version": ("refresh.tool_model_version", "quoted"),
    "shard_limit": ("refresh.shard_limit", "int"),
    "prompt_variant": ("generation.prompt_variant", "str"),  # both
    "keep_threshold": ("judge.keep_threshold", "int"),
    "dry_run": ("refresh.dry_run", "bool"),
    "retry_rejected": ("refresh.retry_rejected", "bool"),
    "output_mode": ("refresh.output_mode", "str"),
    "generations_per_source": ("refresh.generations_per_source", "int"),
    "review": ("refresh.review.mode", "str"),
    "review_registration": ("tool_models_review.mode", "str"),  # maga_tool_models
}


def is_empty(value: Any) -> bool:
    """What the form sends for "the profile's": null, "", 0, false or []."""
    if isinstance(value, str):
        return not value.strip()
    return value is None or value is False or value == 0 or value == []


def params_to_overrides(params: dict[str, Any]) -> list[str]:
    """Map the Trigger form to ``key=value`` overrides, in PARAM_KEYS order, then the
    free ``overrides`` list; an empty field keeps the profile's value."""
    out: list[str] = []
    for name, (key, kind) in PARAM_KEYS.items():
        value = params.get(name)
        if is_empty(value):
            continue
        if kind == "int":
            out.append(f"{key}={int(value)}")
        elif kind == "bool":
            out.append(f"{key}=true")
        elif kind == "quoted":  # a version "3" must stay a string
            out.append(f"{key}='{str(value).strip()}'")
        else:
            out.append(f"{key}={str(value).strip()}")
    out.extend(o for o in (params.get("overrides") or []) if not is_empty(o))
    return out


# --- task outcomes ------------------------------------------------------------------


def fatal_errors() -> tuple[type[BaseException], ...]:
    """maga's errors that a retry cannot heal: bad input or configuration."""
    from maga.config import ConfigError
    from maga.corpus.reader import CorpusError
    from maga.mix.plan import MixError
    from maga.refresh.review import ReviewError, ReviewPending
    from maga.refresh.source import ShardSchemaError
    from maga.registry.manifest import ToolModelsNotFound
    from maga.runs.context import RunConfigMismatch

    return (ConfigError, CorpusError, ShardSchemaError, ToolModelsNotFound, RunConfigMismatch,
            MixError, ReviewError, ReviewPending)  # fmt: skip


def one_line(exc: BaseException) -> str:
    """The exception as one line: its type and its message's lines joined by '; '."""
    lines = [part.strip(" -") for part in str(exc).splitlines() if part.strip(" -")]
    return f"{type(exc).__name__}: {'; '.join(lines) or '(no message)'}"


def _current_context() -> dict[str, Any] | None:
    try:
        from airflow.sdk import get_current_context

        return dict(get_current_context())
    except Exception:  # outside a running task (unit tests, the CLI)
        return None


def fallback_run_uri(dag_id: str, run_id: str) -> str:
    """Where a run's folder is when its config never loaded: under the default storage
    root, the place the UI plugin looks for a run without a ``prepare_run`` result."""
    import os

    from maga.runs.context import resolve_root, safe_run_id
    from maga.storage import join_uri

    root = resolve_root(os.environ.get("MAGA_STORAGE_ROOT") or "var")
    return join_uri(root, "runs", dag_id, safe_run_id(run_id))


def _record(run_uri: str | None, context: dict[str, Any], reason: str, exc: BaseException,
            final: bool) -> None:  # fmt: skip
    from maga.runs.failures import record_failure
    from maga.storage import Storage

    ti = context["ti"]
    run_uri = run_uri or fallback_run_uri(ti.dag_id, context["run_id"])
    try:
        storage = Storage()
        record_failure(storage, run_uri, task_id=ti.task_id, reason=reason,
                       error=type(exc).__name__, final=final,
                       try_number=getattr(ti, "try_number", None),
                       map_index=getattr(ti, "map_index", None))  # fmt: skip
        _refresh_summary(run_uri, ti.dag_id, context["run_id"])
    except Exception as err:  # never hide the task's own error behind this one
        log.warning("could not record the failure in %s: %s", run_uri, err)


def _refresh_summary(run_uri: str, dag_id: str, run_id: str) -> None:
    from maga.runs.context import RunContext
    from maga.runs.summary import refresh_summary
    from maga.storage import Storage, join_uri

    if Storage().exists(join_uri(run_uri, "config.json")):
        refresh_summary(RunContext.from_run_uri(run_uri, dag_id, run_id))


def guarded(fn: Callable[[], Any], run_uri: str | None = None,
            context: dict[str, Any] | None = None,
            skip_when_scheduled: tuple[type[BaseException], ...] = ()) -> Any:  # fmt: skip
    """Run one task body and give Airflow the right outcome:

    - a failed gate or an error that cannot heal (:func:`fatal_errors`): the task fails
      at once, not retried, with a one-line reason (logged first, and kept in the run's
      ``failures/`` for the report);
    - one of ``skip_when_scheduled`` in a run nobody triggered by hand (cron or Asset
      event): the task is skipped with a one-line reason;
    - anything else (S3 timeouts, a teacher's 5xx, a lost worker) is recorded and
      re-raised, so the task's retries apply.
    """
    from maga.gates.core import GateFailed

    context = context if context is not None else _current_context()
    if context is None:
        return fn()
    from airflow.sdk.exceptions import AirflowException, AirflowFailException, AirflowSkipException

    ti = context["ti"]
    try:
        result = fn()
    except AirflowException:
        raise
    except GateFailed as exc:
        reason = f"gate failed: {exc}"
        log.error("%s failed, not retried: %s", ti.task_id, reason)
        _record(run_uri, context, reason, exc, final=True)
        raise AirflowFailException(reason) from None
    except skip_when_scheduled as exc:
        run_type = getattr(context.get("dag_run"), "run_type", "") or ""
        run_type = str(getattr(run_type, "value", run_type))  # DagRunType -> "scheduled"
        if run_type == "manual":
            return _fail(run_uri, context, exc)
        reason = f"{run_type or 'scheduled'} run skipped: {one_line(exc)}"
        log.warning("%s", reason)
        raise AirflowSkipException(reason) from None
    except fatal_errors() as exc:
        return _fail(run_uri, context, exc)
    except Exception as exc:
        tries_left = getattr(ti, "max_tries", 0) - getattr(ti, "try_number", 0) + 1 > 0
        _record(run_uri, context, one_line(exc), exc, final=not tries_left)
        raise
    if run_uri:
        _clear(run_uri, context)
    return result


def _fail(run_uri: str | None, context: dict[str, Any], exc: BaseException) -> Any:
    from airflow.sdk.exceptions import AirflowFailException

    reason = one_line(exc)
    log.error("%s failed, not retried (a retry cannot fix this): %s", context["ti"].task_id,
              reason)  # fmt: skip
    _record(run_uri, context, reason, exc, final=True)
    raise AirflowFailException(reason) from None


def _clear(run_uri: str, context: dict[str, Any]) -> None:
    from maga.runs.failures import clear_failure
    from maga.storage import Storage

    ti = context["ti"]
    try:
        if clear_failure(Storage(), run_uri, ti.task_id, getattr(ti, "map_index", None)):
            _refresh_summary(run_uri, ti.dag_id, context["run_id"])  # the retry healed it
    except Exception as err:
        log.debug("could not clear a failure record: %s", err)


# --- the maga_tool_models task bodies ----------------------------------------------


def prepare_run(params: dict[str, Any], run_id: str) -> str:
    def body() -> str:
        from maga.models.builtin import resolve_model
        from maga.pipelines.tool_models import start_run

        ctx = start_run(params.get("profile") or "demo", params_to_overrides(params), run_id)
        if ctx.config.teacher.backend == "vllm":
            resolve_model(ctx.config.teacher.path)  # build/convert built-in models once, here
        log.info("run folder: %s", ctx.run_uri)
        return ctx.run_uri

    return guarded(body)


def with_task_engines(ctx: Any, fn: Callable[[], Any]) -> Any:
    """Run one task's step as ``maga run`` runs every step: inside an engine pool
    (``runner.keep_engines``), so a step that needs several engines starts them side by
    side and a model it asks for twice starts once. On a CPU with
    ``runner.engine_host_idle_s`` set, the engine host keeps them for the next task;
    otherwise the engines end with the task."""
    from maga.llm.host_client import task_engines

    runner = ctx.config.runner
    with task_engines(runner.keep_engines, runner.deterministic, runner.engine_host_idle_s):
        return fn()


def run_step_task(run_uri: str, context: dict[str, Any], asset: Any = None) -> dict[str, Any]:
    from maga.pipelines.tool_models import DAG_ID, run_step
    from maga.runs.context import RunContext

    task_id = context["ti"].task_id

    def body() -> dict[str, Any]:
        ctx = RunContext.from_run_uri(run_uri, DAG_ID, context["run_id"])
        return with_task_engines(ctx, lambda: run_step(ctx, task_id))

    result = guarded(body, run_uri, context)
    if asset is not None and task_id == "register_tool_models":
        context["outlet_events"][asset].extra = {
            "version": result.get("version"),
            "manifest": result.get("artifacts", {}).get("manifest"),
            "run_uri": run_uri,
        }
    return {k: result.get(k) for k in ("docs_in", "docs_out", "passed", "reason") if k in result}
