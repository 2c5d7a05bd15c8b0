"""The ``maga_mix_eval`` pipeline without Airflow: start a run, plan, train every arm,
summarise. The DAG's task bodies (:mod:`maga.pipelines.mix_eval`) call the same
functions one task at a time; :func:`run_all` is the CLI's and the tests' path."""

from __future__ import annotations

from typing import Any

from maga.config import load_config
from maga.log import get_logger
from maga.runs.context import RunContext
from maga.runs.stage import run_stage

log = get_logger("mixeval")
DAG_ID = "maga_mix_eval"


def start_run(profile: str, overrides: list[str] | dict[str, Any] | None, run_id: str,
              output: str | None = None) -> RunContext:  # fmt: skip
    """A run folder for one evaluation; ``output`` (a published corpus, e.g. from the
    refresh's mix Asset event) overrides ``refresh.output_uri``."""
    extra = [f"refresh.output_uri={output}"] if output else []
    return RunContext.create(load_config(profile, [*(overrides or []), *extra]), DAG_ID, run_id)


def plan(ctx: RunContext) -> list[str]:
    """The arms to train (none when this mix was evaluated with these settings before)."""
    from maga.mixeval.plan import PlanStage, read_plan

    run_stage(ctx, PlanStage())
    return sorted(read_plan(ctx)["arms"])


def train(ctx: RunContext, arm: str) -> dict[str, Any]:
    from maga.mixeval.train import TrainArmStage

    return run_stage(ctx, TrainArmStage(arm))


def summarise(ctx: RunContext) -> dict[str, Any]:
    """Results, report, registry; then the gate (raises GateStopped when it fails)."""
    from maga.mixeval.summarise import SummariseStage, enforce

    run_stage(ctx, SummariseStage())
    return enforce(ctx)


def run_all(ctx: RunContext) -> dict[str, Any]:
    for arm in plan(ctx):
        log.info("=== train %s ===", arm)
        train(ctx, arm)
    return summarise(ctx)
