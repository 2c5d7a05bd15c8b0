"""DAG integrity of maga_mix_eval: wiring (plan, a training task mapped per arm, a
summary that runs when nothing was trained), its schedule on the refresh's mix Asset,
the Trigger form, training on the profile's model queue, and a light parse."""

from __future__ import annotations

import runpy
import subprocess
import sys
from pathlib import Path

import pytest

from maga.steps import MIX_EVAL_STEPS

ROOT = Path(__file__).resolve().parents[2]
DAG_FILE = ROOT / "dags" / "maga_mix_eval.py"
pytestmark = [pytest.mark.timeout(120)]


def load_dag(monkeypatch, **env):
    monkeypatch.setenv("AIRFLOW__CORE__LOAD_EXAMPLES", "False")
    for key in ("MAGA_PROFILE", "MAGA_MODEL_QUEUE", "MAGA_MODEL_POOL"):
        monkeypatch.delenv(key, raising=False)
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    return runpy.run_path(str(DAG_FILE))["maga_mix_eval"]()


def test_wiring_matches_the_library(monkeypatch):
    dag = load_dag(monkeypatch)
    assert {t.task_id for t in dag.tasks} == {"prepare_run"} | {s.task_id for s in MIX_EVAL_STEPS}
    for step in MIX_EVAL_STEPS:
        assert dag.get_task(step.task_id).upstream_task_ids == set(step.upstream) | {"prepare_run"}
    assert type(dag.get_task("train")).__name__.endswith("MappedOperator")  # a task per arm
    assert dag.get_task("summarise").trigger_rule == "none_failed"  # also after 0 arms
    assert set(dag.tags) >= {"maga", "mix-eval"} and dag.doc_md and dag.max_active_runs == 1
    for task in dag.tasks:
        if task.task_id != "prepare_run":
            assert task.retries >= 1, task.task_id


def test_scheduled_on_the_refresh_mix_asset(monkeypatch):
    dag = load_dag(monkeypatch)
    refresh = runpy.run_path(str(ROOT / "dags" / "maga_corpus_refresh.py"))["maga_corpus_refresh"]()
    (emitted,) = refresh.get_task("export_mix").outlets
    assert dag.timetable.asset_condition == emitted


def test_trigger_form_and_queue(monkeypatch):
    dag = load_dag(monkeypatch, MAGA_PROFILE="gpu")
    profiles = sorted(p.stem for p in (ROOT / "configs").glob("*.yaml"))
    assert sorted(dag.params.get_param("profile").schema["enum"]) == profiles
    assert dag.params["profile"] == "gpu"
    assert {"output", "overrides"} <= set(dag.params.keys())
    train = dag.get_task("train")
    assert (train.queue, train.pool) == ("gpu", "gpu")
    assert dag.get_task("plan").queue == "default"
    tiny = load_dag(monkeypatch, MAGA_PROFILE="tiny", MAGA_MODEL_QUEUE="big")
    assert tiny.get_task("train").queue == "big"


def test_parsing_imports_nothing_heavy():
    code = (
        "import sys, runpy; "
        f"runpy.run_path({str(DAG_FILE)!r}); "
        "print([m for m in ('torch','vllm','transformers','great_expectations','pandas',"
        "'pyarrow', 'maga.mixeval') if m in sys.modules])"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True, cwd=ROOT, timeout=120).stdout.splitlines()  # fmt: skip
    assert out[-1] == "[]"
