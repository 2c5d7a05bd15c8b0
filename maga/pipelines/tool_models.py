"""The ``maga_tool_models`` pipeline (the paper's Figure 2 up to registered, quantized
tool models) as an ordered list of steps. The Airflow DAG makes each step a task;
the CLI runs the same steps in order. Nothing here imports Airflow."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from maga.config import MagaConfig, load_config
from maga.log import get_logger
from maga.runs.context import RunContext
from maga.runs.stage import Stage, run_stage
from maga.steps import STEP_BY_ID, STEPS, Step  # noqa: F401 - the pipeline's shape

log = get_logger("pipeline")
DAG_ID = "maga_tool_models"


def _stages() -> dict[str, Callable[[], Stage]]:
    from maga.distill.stage import TrainSLMStage
    from maga.evaluation.stage import EvalQuantizedStage, EvalSLMStage
    from maga.judging.stage import TeacherJudgeStage
    from maga.labeling.ga_stage import TeacherGAStage
    from maga.labeling.reformulate_stage import TeacherReformulateStage
    from maga.quantize.stage import QuantizeStage
    from maga.registry.stage import RegisterStage
    from maga.sampling.stage import SampleStage

    return {
        "sample_labeling_data": SampleStage,
        "teacher_genre_audience": TeacherGAStage,
        "teacher_reformulate": TeacherReformulateStage,
        "teacher_judge": TeacherJudgeStage,
        "train_ga_slm": lambda: TrainSLMStage("ga"),
        "train_reformulation_slm": lambda: TrainSLMStage("reform"),
        "evaluate_slm_vs_teacher": EvalSLMStage,
        "quantize_slms": QuantizeStage,
        "evaluate_quantized": EvalQuantizedStage,
        "register_tool_models": RegisterStage,
    }


def start_run(
    profile: str, overrides: list[str] | dict[str, Any] | None, run_id: str
) -> RunContext:
    config: MagaConfig = load_config(profile, overrides)
    return RunContext.create(config, DAG_ID, run_id)


def run_step(ctx: RunContext, task_id: str) -> dict[str, Any]:
    step = STEP_BY_ID[task_id]
    if step.kind == "gate":
        from maga.gates.runner import run_gate_step, run_tool_models_gate

        if step.gate == "collapse":  # embeddings + judge scores, measured by the report
            from maga.report.collapse import compute_collapse

            return run_gate_step(ctx, "collapse", lambda: compute_collapse(ctx))
        return run_tool_models_gate(ctx, step.gate or "")
    if task_id == "register_tool_models":  # a person approved them, if one was asked
        from maga.pipelines.tool_models_review import check_register

        check_register(ctx)
    stage = _stages()[task_id]()
    return run_stage(ctx, stage)


def run_all(ctx: RunContext, until: str | None = None, report: bool = True) -> None:
    """Run every step in order (the CLI's path); stops at the first failure. The
    data-quality report is built in any case, like the DAG's teardown task."""
    try:
        for step in STEPS:
            log.info("=== %s ===", step.task_id)
            run_step(ctx, step.task_id)
            if step.task_id == until:
                break
    finally:
        if report:
            build_run_report(ctx.run_uri)


def build_run_report(run_uri: str) -> str | None:
    """Build ``report.html`` beside the summary; a report failure never hides the run's."""
    from maga.report import build_report
    from maga.storage import Storage, join_uri

    if not Storage().exists(join_uri(run_uri, "summary.json")):
        log.info("no data-quality report for %s: no stage finished and no failure was "
                 "recorded (see the failed task's log)", run_uri)  # fmt: skip
        return None
    try:
        uri = build_report(run_uri)
        log.info("data-quality report: %s", uri)
        return uri
    except Exception:
        log.exception("could not build the data-quality report for %s", run_uri)
        return None
