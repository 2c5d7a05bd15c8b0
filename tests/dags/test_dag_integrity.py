"""DAG integrity: every DAG file imports cleanly and fast, has tags and retries, and
the tool-models DAG wires exactly the steps the library defines."""

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
DAGS = ROOT / "dags"


@pytest.fixture(scope="module")
def dagbag(tmp_path_factory):
    """The DagBag, with AIRFLOW_HOME and LOAD_EXAMPLES set only while this module runs
    (``tests/test_suite_guards.py`` checks that they do not leak into later tests)."""
    with pytest.MonkeyPatch.context() as mp:
        if "AIRFLOW_HOME" not in os.environ:
            mp.setenv("AIRFLOW_HOME", str(tmp_path_factory.mktemp("airflow_home")))
        mp.setenv("AIRFLOW__CORE__LOAD_EXAMPLES", "False")
        from airflow.dag_processing.dagbag import DagBag

        yield DagBag(dag_folder=str(DAGS))


def test_no_import_errors(dagbag):
    assert dagbag.import_errors == {}
    assert "maga_tool_models" in dagbag.dags


def test_every_dag_has_tags_retries_and_docs(dagbag):
    for dag_id, dag in dagbag.dags.items():
        assert dag.tags, f"{dag_id} has no tags"
        assert dag.doc_md, f"{dag_id} has no documentation"
        for t in dag.tasks:
            if t.task_id not in ("prepare_run", "build_data_quality_report"):
                assert t.retries >= 1, f"{dag_id}.{t.task_id} has no retries"


def test_tool_models_wiring_matches_library(dagbag):
    from maga.pipelines.tool_models import STEPS

    dag = dagbag.dags["maga_tool_models"]
    assert {t.task_id for t in dag.tasks} == (
        {"prepare_run", "build_data_quality_report", "review_tool_models"}
        | {s.task_id for s in STEPS}
    )
    for step in STEPS:
        task = dag.get_task(step.task_id)
        expected = set(step.upstream) | {"prepare_run"}
        if step.task_id == "register_tool_models":  # a person's approval, when asked
            expected.add("review_tool_models")
        assert task.upstream_task_ids == expected, step.task_id
    review = dag.get_task("review_tool_models")
    assert review.upstream_task_ids == {"gate_quantized", "prepare_run"}
    assert review.options == ["Approve", "Reject"] and set(review.params) == {"comment"}
    assert dag.params["review_registration"] is None  # off by default (profile: never)
    register = dag.get_task("register_tool_models")
    assert [a.name for a in register.outlets] == ["maga_tool_models"]
    report = dag.get_task("build_data_quality_report")
    assert report.is_teardown and "register_tool_models" in report.upstream_task_ids


def test_gates_sit_between_data_hand_offs(dagbag):
    dag = dagbag.dags["maga_tool_models"]
    for consumer, gate in [
        ("teacher_genre_audience", "gate_sample"),
        ("train_reformulation_slm", "gate_collapse"),
        ("teacher_reformulate", "gate_ga_labels"),
        ("train_ga_slm", "gate_sft_data"),
        ("quantize_slms", "gate_slm_parity"),
        ("register_tool_models", "gate_quantized"),
    ]:
        assert gate in dag.get_task(consumer).upstream_task_ids


def test_parsing_imports_nothing_heavy():
    code = (
        "import sys, time; t=time.perf_counter(); "
        f"import runpy; runpy.run_path({str(DAGS / 'maga_tool_models.py')!r}); "
        "heavy=[m for m in ('torch','vllm','transformers','great_expectations','pandas') "
        "if m in sys.modules]; print(heavy); print(time.perf_counter()-t)"
    )
    began = time.perf_counter()
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=ROOT
    ).stdout.splitlines()
    assert out[-2] == "[]", f"DAG parsing imported heavy modules: {out[-2]}"
    assert time.perf_counter() - began < 30


def test_model_tasks_follow_the_model_queue(monkeypatch):
    import runpy

    monkeypatch.setenv("MAGA_MODEL_QUEUE", "gpu")
    dag = runpy.run_path(str(DAGS / "maga_tool_models.py"))["maga_tool_models"]()
    queues = {t.task_id: t.queue for t in dag.tasks}
    assert queues["teacher_judge"] == "gpu" and queues["train_ga_slm"] == "gpu"
    assert queues["gate_sft_data"] == "default" and queues["sample_labeling_data"] == "default"


def test_refresh_wiring_matches_library(monkeypatch):
    """The refresh DAG's literal shard steps are the library's, in its order, and the
    steps that load a model are the ones the library routes to the model queue."""
    import runpy

    from maga.refresh import pipeline

    monkeypatch.setenv("MAGA_MODEL_QUEUE", "gpu")
    dag = runpy.run_path(str(DAGS / "maga_corpus_refresh.py"))["maga_corpus_refresh"]()
    shard = [t.task_id.removeprefix("shard.") for t in dag.tasks if t.task_id.startswith("shard.")]
    assert tuple(shard) == pipeline.SHARD_STEPS
    for up, down in zip(pipeline.SHARD_STEPS, pipeline.SHARD_STEPS[1:], strict=False):
        assert f"shard.{up}" in dag.get_task(f"shard.{down}").upstream_task_ids
    routed = {t.task_id.removeprefix("shard.") for t in dag.tasks if t.queue == "gpu"}
    assert routed == set(pipeline.MODEL_STEPS)


@pytest.mark.parametrize("dag_id", ["maga_tool_models", "maga_corpus_refresh"])
def test_param_choices_match_the_configs(dagbag, dag_id):
    """The DAG files list the choices literally (parsing imports nothing heavy); they
    must be exactly the profiles in configs/ and the config's own literals."""
    from typing import get_args

    from maga.config import OutputMode, PromptVariant

    params = dagbag.dags[dag_id].params
    profiles = sorted(p.stem for p in (ROOT / "configs").glob("*.yaml"))
    assert sorted(params.get_param("profile").schema["enum"]) == profiles
    assert params.get_param("prompt_variant").schema["enum"] == [None, *get_args(PromptVariant)]
    if dag_id == "maga_corpus_refresh":
        modes = params.get_param("output_mode").schema["enum"]
        assert modes == [None, *get_args(OutputMode)]
        from maga.config import ReviewConfig

        review = get_args(ReviewConfig.model_fields["mode"].annotation)
        assert params.get_param("review").schema["enum"] == [None, *review]


@pytest.mark.parametrize("dag_id", ["maga_tool_models", "maga_corpus_refresh"])
def test_dags_serialize_with_their_review_forms(dagbag, dag_id):
    """What the DAG processor stores (a schema error here is an import error in the UI)."""
    from airflow.serialization.serialized_objects import DagSerialization

    back = DagSerialization.from_dict(DagSerialization.to_dict(dagbag.dags[dag_id]))
    review = "review" if dag_id == "maga_corpus_refresh" else "review_tool_models"
    assert "comment" in back.get_task(review).params
