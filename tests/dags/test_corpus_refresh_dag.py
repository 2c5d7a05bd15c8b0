"""DAG integrity of maga_corpus_refresh: wiring, mapping over shards, retries, Params,
the schedule (profile cron OR new tool models), queue and pool from the profile, and a
parse that imports nothing heavy."""

from __future__ import annotations

import os
import runpy
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
DAG_FILE = ROOT / "dags" / "maga_corpus_refresh.py"
SHARD_TASKS = [
    "shard.gate_shard",
    "shard.reformulate_shard",
    "shard.clean_shard",
    "shard.validate_shard",
]


def load_dag(monkeypatch, **env):
    monkeypatch.setenv("AIRFLOW__CORE__LOAD_EXAMPLES", "False")
    for key in ("MAGA_PROFILE", "MAGA_MODEL_QUEUE"):
        monkeypatch.delenv(key, raising=False)
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    return runpy.run_path(str(DAG_FILE))["maga_corpus_refresh"]()


@pytest.fixture(scope="module")
def dagbag(tmp_path_factory):
    os.environ.setdefault("AIRFLOW_HOME", str(tmp_path_factory.mktemp("airflow_home")))
    os.environ["AIRFLOW__CORE__LOAD_EXAMPLES"] = "False"
    from airflow.dag_processing.dagbag import DagBag

    return DagBag(dag_folder=str(ROOT / "dags"))


def test_in_dagbag_without_errors(dagbag):
    assert dagbag.import_errors == {}
    dag = dagbag.dags["maga_corpus_refresh"]
    assert set(dag.tags) >= {"maga", "corpus-refresh"} and dag.doc_md
    assert dag.max_active_runs == 1


def test_wiring_and_mapping_over_shards(monkeypatch):
    dag = load_dag(monkeypatch)
    ids = {t.task_id for t in dag.tasks}
    assert ids == {"prepare_run", "discover", *SHARD_TASKS, "review", "publish", "export_mix",
                   "finish"}  # fmt: skip
    for up, down in zip(SHARD_TASKS, SHARD_TASKS[1:], strict=False):
        assert up in dag.get_task(down).upstream_task_ids
    group = dag.task_group_dict["shard"]
    assert type(group).__name__ == "MappedTaskGroup"  # one mapped instance per shard
    assert "discover" in dag.get_task("shard.gate_shard").upstream_task_ids
    review = dag.get_task("review")  # between validation and publish, a person if asked
    assert "shard.validate_shard" in review.upstream_task_ids
    assert review.trigger_rule == "all_done"  # stopped shards do not block the others
    assert review.options == ["Publish all", "Publish selected shards", "Reject run"]
    assert set(review.params) == {"shards", "comment"}  # the form, not the DAG's Params
    publish = dag.get_task("publish")
    assert publish.upstream_task_ids == {"review", "prepare_run"}
    assert publish.trigger_rule == "all_done"  # stopped shards do not block the others
    assert [a.name for a in publish.outlets] == ["maga_corpus"]
    assert dag.get_task("export_mix").upstream_task_ids == {"publish", "prepare_run"}
    assert [a.name for a in dag.get_task("export_mix").outlets] == ["maga_mix"]  # mix eval
    assert dag.get_task("finish").upstream_task_ids == {"export_mix", "prepare_run"}
    assert dag.get_task("finish").trigger_rule == "all_done"  # the verdict runs in any case
    for task in dag.tasks:
        if task.task_id != "prepare_run":
            assert task.retries >= 1, task.task_id


def test_params_cover_the_ui_form(monkeypatch):
    dag = load_dag(monkeypatch)
    params = dag.params
    assert {
        "profile",
        "source",
        "output",
        "tool_model_version",
        "shard_limit",
        "prompt_variant",
        "output_mode",
        "generations_per_source",
        "dry_run",
        "overrides",
    } <= set(params.keys())
    assert params.get_param("output_mode").schema["enum"] == [
        None,
        "documents",
        "stitch",
        "stretch",
    ]
    assert params.get_param("generations_per_source").schema["maximum"] == 64
    assert params["shard_limit"] is None and params["dry_run"] is False
    assert params["retry_rejected"] is False
    assert params.get_param("shard_limit").schema["maximum"] == 1024


def test_schedule_is_cron_or_new_tool_models(monkeypatch):
    from airflow.sdk import Asset

    dag = load_dag(monkeypatch, MAGA_PROFILE="tiny")
    timetable = dag.timetable
    assert type(timetable).__name__ == "AssetOrTimeSchedule"
    assert timetable.timetable.expression == "0 4 * * *"  # configs/tiny.yaml refresh.cron
    tool_models = runpy.run_path(str(ROOT / "dags" / "maga_tool_models.py"))["TOOL_MODELS_ASSET"]
    assert tool_models == Asset(name="maga_tool_models", uri="maga://registry/tool-models")
    assert timetable.asset_condition == tool_models


def test_queue_and_pool_come_from_the_profile(monkeypatch):
    gpu = load_dag(monkeypatch, MAGA_PROFILE="gpu")
    for tid in ("shard.reformulate_shard", "shard.validate_shard"):
        assert (gpu.get_task(tid).queue, gpu.get_task(tid).pool) == ("gpu", "gpu")
    for tid in ("shard.gate_shard", "shard.clean_shard", "publish"):
        assert gpu.get_task(tid).queue == "default"
    tiny = load_dag(monkeypatch, MAGA_PROFILE="tiny", MAGA_MODEL_QUEUE="big")
    assert tiny.get_task("shard.reformulate_shard").queue == "big"
    assert tiny.get_task("shard.reformulate_shard").pool == "cpu_models"
    # On a CPU pool a shard's gate and clean take one core's slot, so they never run
    # beside an engine task that holds every core; on a GPU they stay out of its pool.
    for tid in ("shard.gate_shard", "shard.clean_shard"):
        task = tiny.get_task(tid)
        assert (task.queue, task.pool, task.pool_slots) == ("default", "cpu_models", 1)
        assert gpu.get_task(tid).pool == "default_pool"


def test_parsing_imports_nothing_heavy():
    code = (
        "import sys, runpy; "
        f"runpy.run_path({str(DAG_FILE)!r}); "
        "print([m for m in ('torch','vllm','transformers','great_expectations','pandas',"
        "'pyarrow') if m in sys.modules])"
    )
    out = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        check=True,
        cwd=ROOT,
        timeout=120,
    ).stdout.splitlines()
    assert out[-1] == "[]"


def test_serializes_and_the_review_form_round_trips(monkeypatch):
    """What the DAG processor stores (a schema error here is an import error in the UI),
    and the review task's form as the scheduler reads it back."""
    from airflow.serialization.serialized_objects import DagSerialization

    data = DagSerialization.to_dict(load_dag(monkeypatch))
    back = DagSerialization.from_dict(data)
    assert set(back.get_task("review").params) == {"shards", "comment"}
