"""GPU memory shares of the compose `gpu` and `teacher-server` profiles add up (the real
Compose binary renders the file, as in tests/test_compose.py), and the worker's share
reaches its engines."""

from __future__ import annotations

from pathlib import Path

import pytest

from maga.config import load_config
from tests.test_compose import ENV_EXAMPLE, _compose_binary, config_json, read_env_file

pytestmark = pytest.mark.timeout(120)
MAX_SHARED = 0.9  # vLLM refuses to start below its share of free memory; keep slack


def gpu_share_problems(config: dict) -> list[str]:
    """Problems with the GPU memory shares of a rendered compose config (empty: fine)."""
    services = config["services"]
    teacher, worker = services["teacher"], services["gpu-worker"]

    def devices(service: dict) -> set[str]:
        reserved = service["deploy"]["resources"]["reservations"]["devices"]
        return {str(d) for dev in reserved for d in dev.get("device_ids", [])}

    t_share = float(teacher["environment"]["MAGA_TEACHER_GPU_MEMORY_UTILIZATION"])
    w_share = float(worker["environment"]["MAGA_GPU_MEMORY_UTILIZATION"])
    problems = [
        f"{name} share {share} is not in (0, 1]"
        for name, share in (("teacher", t_share), ("gpu-worker", w_share))
        if not 0 < share <= 1
    ]
    shared = devices(teacher) & devices(worker)
    if shared and t_share + w_share > MAX_SHARED:
        problems.append(
            f"teacher ({t_share}) + gpu-worker ({w_share}) = {t_share + w_share:.2f} "
            f"> {MAX_SHARED} on shared GPU(s) {sorted(shared)}"
        )
    return problems


@pytest.fixture(scope="module")
def render(tmp_path_factory):
    binary = _compose_binary()
    home = tmp_path_factory.mktemp("compose-home")

    def _render(**settings: str) -> dict:
        env = {**read_env_file(ENV_EXAMPLE), **settings}
        path = Path(tmp_path_factory.mktemp("env")) / ".env"
        path.write_text("".join(f"{k}={v}\n" for k, v in env.items()))
        return config_json(binary, home, "--profile", "gpu", "--profile", "teacher-server",
                           env_file=path)  # fmt: skip

    return _render


def test_env_example_shares_fit_one_gpu(render) -> None:
    """.env.example is for the gpu profile alone (teacher in-process: the worker takes
    0.85); a teacher-server on the same GPU needs the worker lowered to 0.45, and the
    check catches the shares when it is not."""
    env = read_env_file(ENV_EXAMPLE)
    assert env["MAGA_TEACHER_GPU"] == env["MAGA_GPU_WORKER_GPU"]  # the one-GPU default
    assert float(env["MAGA_GPU_WORKER_GPU_MEMORY_UTILIZATION"]) == 0.85
    assert gpu_share_problems(render(MAGA_GPU_WORKER_GPU_MEMORY_UTILIZATION="0.45")) == []
    (problem,) = gpu_share_problems(render())
    assert "1.25 > 0.9" in problem


def test_shares_over_the_limit_on_one_gpu_are_caught(render) -> None:
    config = render(
        MAGA_TEACHER_GPU_MEMORY_UTILIZATION="0.85", MAGA_GPU_WORKER_GPU_MEMORY_UTILIZATION="0.85"
    )
    (problem,) = gpu_share_problems(config)
    assert "1.70 > 0.9" in problem


def test_separate_gpus_take_full_shares(render) -> None:
    config = render(
        MAGA_TEACHER_GPU="0",
        MAGA_GPU_WORKER_GPU="1",
        MAGA_TEACHER_GPU_MEMORY_UTILIZATION="0.85",
        MAGA_GPU_WORKER_GPU_MEMORY_UTILIZATION="0.85",
    )
    assert gpu_share_problems(config) == []


def test_worker_share_reaches_every_engine(monkeypatch) -> None:
    monkeypatch.setenv("MAGA_GPU_MEMORY_UTILIZATION", "0.45")
    cfg = load_config("gpu")
    assert cfg.teacher.engine.gpu_memory_utilization == 0.45
    assert cfg.student_engine.gpu_memory_utilization == 0.45
    monkeypatch.delenv("MAGA_GPU_MEMORY_UTILIZATION")
    assert load_config("gpu").student_engine.gpu_memory_utilization == 0.85
