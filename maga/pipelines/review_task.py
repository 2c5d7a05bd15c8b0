"""The DAGs' review step: Airflow's human-in-the-loop operator (apache-airflow-providers-
standard) fed by :mod:`maga.refresh.review`. The one maga module that imports Airflow at
import time (it subclasses an operator); only the DAG files import it.

On Airflow 3.3 a waiting review parks its task in the ``awaiting_input`` state (no
worker slot, no trigger); the response comes through the UI's Required Actions or the
REST API (``PATCH .../taskInstances/{task}/{map_index}/hitlDetails``, which needs edit
rights on the DAG), and the scheduler applies ``defaults`` when ``response_timeout``
passes. Options and the request body depend on the run, so they are set in ``execute``
from the run folder; the parse-time ``params`` (``shards``, ``comment``) only fix the
form's field names, which the response must match.

An answer the review cannot take (a rejection without comment, no shard selected) does
not fail the task: it is kept (``review/refused.json``) and the task parks again in
``awaiting_input`` (``_reopen``): the response is cleared, the request stays (Airflow
keeps one request per try and does not rewrite its body, which says what an answer
needs), and the deadline is the first one (at least a minute more).
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any, NoReturn
from urllib.parse import quote

from airflow.providers.standard.operators.hitl import HITLOperator
from airflow.sdk import Param
from airflow.sdk.definitions.param import ParamsDict

from maga.log import get_logger

log = get_logger("airflow")
REPORT_TAB = "plugin/data-quality-report"  # the run page's tab (plugins/maga_dq_plugin.py)


def report_url(dag_id: str, run_id: str) -> str:
    """The run's Data quality report tab in the Airflow UI."""
    from airflow.configuration import conf

    base = (conf.get("api", "base_url", fallback="") or "").rstrip("/")
    return f"{base}/dags/{quote(dag_id)}/runs/{quote(run_id, safe='')}/{REPORT_TAB}"


def _form(shards: list[str], comment: str | None = None) -> dict[str, Param]:
    return {
        "shards": Param(shards, type="array", items={"type": "string"},
                        **({"examples": shards} if shards else {}), title="Shards to publish",
                        description="For 'Publish selected shards': the shard keys to "
                        "publish; the others are rejected by review."),
        "comment": Param(comment, type=["null", "string"], title="Comment",
                         description="Required for 'Reject run'; optional otherwise."),
    }  # fmt: skip


class _Reopens(HITLOperator):
    def _reopen(self, context: Any, ctx: Any, request: dict[str, Any], result: dict[str, Any],
                why: Exception) -> NoReturn:  # fmt: skip
        """Keep the refused answer, clear the response and wait for the person again."""
        from airflow.sdk.exceptions import TaskAwaitingInput
        from airflow.sdk.execution_time.hitl import upsert_hitl_detail

        from maga.refresh.review import refuse, remaining

        refuse(ctx, result, str(why))
        # the request exists and was answered: this clears the answer (the request as is)
        upsert_hitl_detail(ti_id=context["task_instance"].id, options=self.options,
                           subject=self.subject, body=self.body, defaults=self.defaults,
                           multiple=self.multiple, params=self.serialized_params)  # fmt: skip
        raise TaskAwaitingInput(method_name="execute_complete", timeout=remaining(request))


class RefreshReviewOperator(_Reopens):
    """Asks a person between validation and publish when ``refresh.review`` says so;
    otherwise returns at once. Its result (XCom) is the decision; the decision is also
    written to the run folder, where publish reads it."""

    template_fields = ("subject", "body", "run_uri")

    def __init__(self, *, run_uri: Any, **kwargs: Any) -> None:
        from maga.refresh.review import OPTIONS

        kwargs.setdefault("subject", "Review the corpus refresh before it publishes")
        kwargs.pop("params", None)  # the DAG's Params (added by apply_defaults): not a form
        super().__init__(options=list(OPTIONS), params=_form([]), **kwargs)
        self.run_uri = run_uri

    def _ctx(self, context: Any) -> Any:
        from maga.refresh.pipeline import DAG_ID
        from maga.runs.context import RunContext

        return RunContext.from_run_uri(self.run_uri, DAG_ID, context["run_id"])

    def execute(self, context: Any) -> Any:
        from airflow.sdk.exceptions import AirflowSkipException

        from maga.refresh.review import REJECT, render_body, request_review

        ctx = self._ctx(context)
        if not ctx.storage.exists(ctx.uri("discover", "_SUCCESS")):
            raise AirflowSkipException("nothing to review: discover produced no plan")
        request = request_review(ctx)
        if not request["required"]:
            return {"required": False, "why": request["why"]}
        cfg = ctx.config.refresh.review
        self.body = render_body(request, report_url(context["dag"].dag_id, context["run_id"]))
        self.subject = (f"Publish {len(request['shards'])} shard(s) of run "
                        f"{context['run_id']}?")  # fmt: skip
        self.params = ParamsDict(_form(request["shards"], ""))
        self.response_timeout = timedelta(seconds=cfg.timeout)
        # on_timeout reject: the scheduler answers "Reject run" (responded_by None);
        # fail: no default, the task fails on timeout and publish publishes nothing
        self.defaults = [REJECT] if cfg.on_timeout == "reject" else None
        log.info("review asked for %s: %s", context["run_id"], request["why"])
        return super().execute(context)

    def execute_complete(self, context: Any, event: dict[str, Any]) -> Any:
        from maga.refresh.review import ReviewError, from_hitl, read

        result = dict(super().execute_complete(context=context, event=event))
        ctx = self._ctx(context)
        request = read(ctx, "request") or {}
        try:
            decision = from_hitl(ctx, request, result)
        except ReviewError as exc:  # nothing decided, nothing lost: ask again
            self._reopen(context, ctx, request, result, exc)
        return {"required": True, **decision}


class ToolModelsReviewOperator(_Reopens):
    """``maga_tool_models``: asks a person to approve the tool models before they are
    registered when ``tool_models_review.mode`` is ``always``; otherwise returns at once."""

    template_fields = ("subject", "body", "run_uri")

    def __init__(self, *, run_uri: Any, **kwargs: Any) -> None:
        from maga.pipelines.tool_models_review import APPROVE, REJECT

        kwargs.setdefault("subject", "Register these tool models?")
        kwargs.pop("params", None)  # the DAG's Params (added by apply_defaults): not a form
        form = {"comment": Param(None, type=["null", "string"], title="Comment",
                                 description="Required for Reject; optional otherwise.")}  # fmt: skip
        super().__init__(options=[APPROVE, REJECT], params=form, **kwargs)
        self.run_uri = run_uri

    def _ctx(self, context: Any) -> Any:
        from maga.pipelines.tool_models import DAG_ID
        from maga.runs.context import RunContext

        return RunContext.from_run_uri(self.run_uri, DAG_ID, context["run_id"])

    def execute(self, context: Any) -> Any:
        from maga.pipelines.tool_models_review import REJECT, render_body, request_review

        ctx = self._ctx(context)
        request = request_review(ctx)
        if not request["required"]:
            return {"required": False}
        cfg = ctx.config.tool_models_review
        self.body = render_body(request, report_url(context["dag"].dag_id, context["run_id"]))
        self.params = ParamsDict({"comment": Param("", type=["null", "string"], title="Comment")})
        self.response_timeout = timedelta(seconds=cfg.timeout)
        self.defaults = [REJECT] if cfg.on_timeout == "reject" else None
        return super().execute(context)

    def execute_complete(self, context: Any, event: dict[str, Any]) -> Any:
        from maga.pipelines.tool_models_review import APPROVE, decide
        from maga.refresh.review import ReviewError, read

        result = dict(super().execute_complete(context=context, event=event))
        user = result.get("responded_by_user") or {}
        at = result.get("responded_at")
        ctx = self._ctx(context)
        try:
            decision = decide(ctx, result["chosen_options"] == [APPROVE],
                              reviewer=user.get("name") or user.get("id"),
                              comment=(result.get("params_input") or {}).get("comment"),
                              at=at.isoformat() if hasattr(at, "isoformat") else at,
                              timed_out=not user)  # fmt: skip
        except ReviewError as exc:  # nothing decided, nothing lost: ask again
            self._reopen(context, ctx, read(ctx, "request") or {}, result, exc)
        return {"required": True, **decision}
