"""Routing by profile: MAGA_PROFILE=gpu alone sends the model tasks of BOTH DAGs to the
`gpu` queue and pool, and the pools exist in Airflow's metadata DB after init."""

from __future__ import annotations

import os
import runpy
import subprocess
import sys
from pathlib import Path

import pytest

from maga.deploy.routing import bound_cores, model_routing, pools_to_create

pytestmark = pytest.mark.timeout(120)
ROOT = Path(__file__).resolve().parents[2]
TOOL_MODEL_TASKS = {
    "teacher_genre_audience", "teacher_reformulate", "teacher_judge", "train_ga_slm",
    "train_reformulation_slm", "evaluate_slm_vs_teacher", "quantize_slms", "evaluate_quantized",
}  # fmt: skip
REFRESH_MODEL_TASKS = {"shard.reformulate_shard", "shard.validate_shard"}
CPU_SHARD_TASKS = {"shard.gate_shard", "shard.clean_shard"}  # one core in cpu_models
ROUTING_ENV = (
    "MAGA_PROFILE",
    "MAGA_MODEL_QUEUE",
    "MAGA_MODEL_POOL",
    "MAGA_GPU_POOL_SLOTS",
    "MAGA_MODEL_POOL_SLOTS",
    "VLLM_CPU_OMP_THREADS_BIND",
)


def _dags(monkeypatch: pytest.MonkeyPatch, **env: str) -> dict:
    monkeypatch.setenv("AIRFLOW__CORE__LOAD_EXAMPLES", "False")
    for key in ROUTING_ENV:
        monkeypatch.delenv(key, raising=False)
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    return {
        name: runpy.run_path(str(ROOT / "dags" / f"{name}.py"))[name]()
        for name in ("maga_tool_models", "maga_corpus_refresh")
    }


def _routes(dag) -> dict[str, tuple[str, str]]:
    return {t.task_id: (t.queue, t.pool) for t in dag.tasks}


def _slots(dag) -> dict[str, int]:
    return {t.task_id: t.pool_slots for t in dag.tasks}


def test_gpu_profile_alone_routes_model_tasks_of_both_dags(monkeypatch) -> None:
    dags = _dags(monkeypatch, MAGA_PROFILE="gpu")
    expected = {"maga_tool_models": TOOL_MODEL_TASKS, "maga_corpus_refresh": REFRESH_MODEL_TASKS}
    for name, dag in dags.items():
        routes = _routes(dag)
        assert expected[name] <= set(routes), name
        for task_id, route in routes.items():
            want = ("gpu", "gpu") if task_id in expected[name] else ("default", "default_pool")
            assert route == want, (name, task_id, route)


def test_cpu_profiles_give_each_model_task_the_cores_its_engines_bind(monkeypatch) -> None:
    """tiny/demo: model tasks share the `cpu_models` pool (one slot per core) and each holds
    every core its engines bind, so two shards' engines never fight over 2 cores; a
    shard's gate and clean hold one core there (never beside an engine task), the other
    tasks stay in default_pool, and a one-thread proxy training holds one core."""
    monkeypatch.setattr(os, "cpu_count", lambda: 4)
    dags = _dags(monkeypatch, MAGA_PROFILE="tiny")
    expected = {"maga_tool_models": TOOL_MODEL_TASKS, "maga_corpus_refresh": REFRESH_MODEL_TASKS}
    for name, dag in dags.items():
        routes, slots = _routes(dag), _slots(dag)
        for task_id, route in routes.items():
            model, one_core = task_id in expected[name], task_id in CPU_SHARD_TASKS
            pool = "cpu_models" if model or one_core else "default_pool"
            assert route == ("default", pool), (name, task_id, route)
            assert slots[task_id] == (4 if model else 1), (name, task_id)
    assert pools_to_create("tiny") == {"cpu_models": 4, "gpu": 1}
    mix = runpy.run_path(str(ROOT / "dags" / "maga_mix_eval.py"))["maga_mix_eval"]()
    assert (mix.get_task("train").pool, mix.get_task("train").pool_slots) == ("cpu_models", 1)
    # engines bound to 2 of the 4 cores: two model tasks fit side by side
    monkeypatch.setenv("VLLM_CPU_OMP_THREADS_BIND", "0-1")
    assert model_routing("demo").slots == 2
    monkeypatch.setenv("MAGA_MODEL_POOL_SLOTS", "8")  # two 4-core workers serve the queue
    monkeypatch.delenv("VLLM_CPU_OMP_THREADS_BIND")
    assert (model_routing("demo").slots, pools_to_create("demo")["cpu_models"]) == (4, 8)
    monkeypatch.setenv("MAGA_MODEL_POOL_SLOTS", "2")  # never more slots than the pool has
    assert model_routing("demo").slots == 2
    monkeypatch.setenv("MAGA_MODEL_POOL_SLOTS", "two")
    with pytest.raises(ValueError, match="MAGA_MODEL_POOL_SLOTS='two'"):
        model_routing("demo")


@pytest.mark.parametrize(("bind", "cores"), [
    ("", 16), ("auto", 16), ("0-3", 4), ("0-3,8,10-11", 7), ("0-3|4-7", 4), ("0-63", 16),
])  # fmt: skip
def test_bound_cores_reads_vllms_binding(bind: str, cores: int) -> None:
    assert bound_cores(bind, 16) == cores


def test_bound_cores_names_a_bad_binding() -> None:
    with pytest.raises(ValueError, match="VLLM_CPU_OMP_THREADS_BIND='0-a'"):
        bound_cores("0-a", 4)


def test_env_overrides_and_empty_values(monkeypatch) -> None:
    monkeypatch.setenv("MAGA_PROFILE", "gpu")
    monkeypatch.setenv("MAGA_MODEL_QUEUE", "")  # compose passes empty when unset
    assert model_routing()[:4] == ("gpu", "gpu", "gpu", 1)
    monkeypatch.setenv("MAGA_MODEL_QUEUE", "h100")
    monkeypatch.setenv("MAGA_MODEL_POOL", "h100_pool")
    assert model_routing()[:4] == ("gpu", "h100", "h100_pool", 1)
    assert pools_to_create() == {"gpu": 1, "h100_pool": 1}
    monkeypatch.setenv("MAGA_GPU_POOL_SLOTS", "0")
    with pytest.raises(ValueError, match="MAGA_GPU_POOL_SLOTS='0'"):
        pools_to_create()


@pytest.mark.slow
@pytest.mark.timeout(600)
def test_init_creates_the_pools_in_airflows_db(tmp_path: Path) -> None:
    """What docker/airflow-init.sh runs after the migration, on a real (SQLite) Airflow DB."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AIRFLOW", "MAGA_PROFILE"))}
    env.update(AIRFLOW_HOME=str(tmp_path), AIRFLOW__CORE__LOAD_EXAMPLES="False",
               MAGA_PROFILE="gpu", MAGA_GPU_POOL_SLOTS="2")  # fmt: skip
    airflow = [sys.executable, "-m", "airflow"]
    subprocess.run([*airflow, "db", "migrate"], env=env, check=True, capture_output=True,
                   timeout=500)  # fmt: skip
    script = (ROOT / "docker" / "airflow-init.sh").read_text()
    assert "python -m maga.deploy.routing" in script
    subprocess.run([sys.executable, "-m", "maga.deploy.routing"], env=env, check=True,
                   timeout=120)  # fmt: skip
    out = subprocess.run([*airflow, "pools", "get", "gpu", "-o", "plain"], env=env,
                         check=True, capture_output=True, text=True, timeout=120).stdout  # fmt: skip
    assert "gpu" in out and " 2 " in f" {out} "
