"""A tool-models stage SIGKILLed mid-way (the task's process group: the pipeline and its
vLLM engine process), then rerun in the same run, gives the same output bytes as a run
that was never interrupted. Tiny profile, real vLLM engine, the teacher's (genre,
audience) stage."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

pytestmark = [pytest.mark.slow, pytest.mark.timeout(1800)]
ROOT = Path(__file__).resolve().parents[2]
UNTIL = "teacher_genre_audience"
SCRIPT = """
import sys
from maga.pipelines.tool_models import run_all, start_run
ctx = start_run("tiny", [f"storage.root={sys.argv[1]}"], sys.argv[2])
run_all(ctx, until=sys.argv[3], report=False)
"""


def _run(store: Path, run_id: str, log: Path) -> subprocess.Popen:
    env = dict(os.environ, VLLM_CPU_KVCACHE_SPACE="1", PYTHONPATH=str(ROOT))
    with log.open("ab") as out:
        return subprocess.Popen(
            [sys.executable, "-c", SCRIPT, str(store), run_id, UNTIL], cwd=ROOT, env=env,
            stdout=out, stderr=subprocess.STDOUT, start_new_session=True,
        )  # fmt: skip


def _labels(store: Path, run_id: str) -> Path:
    return store / "runs" / "maga_tool_models" / run_id / "teacher_ga" / "labels.jsonl"


def test_sigkilled_teacher_stage_reruns_to_identical_output(tmp_path):
    store = tmp_path / "store"
    logs = {name: tmp_path / f"{name}.log" for name in ("reference", "killed", "rerun")}
    ref = _run(store, "reference", logs["reference"])
    assert ref.wait(timeout=1500) == 0, logs["reference"].read_text()[-3000:]
    killed = _run(store, "killed", logs["killed"])
    deadline = time.monotonic() + 900
    while "teacher_ga: starting" not in logs["killed"].read_text(errors="replace"):
        assert killed.poll() is None, logs["killed"].read_text()[-3000:]
        assert time.monotonic() < deadline, "the stage never started"
        time.sleep(0.5)
    time.sleep(8)  # mid-stage: the engine is starting or generating
    os.killpg(killed.pid, signal.SIGKILL)
    assert killed.wait(timeout=60) == -signal.SIGKILL
    stage = _labels(store, "killed").parent
    assert not (stage / "_SUCCESS").exists(), "killed before the stage finished"
    again = _run(store, "killed", logs["rerun"])
    assert again.wait(timeout=1500) == 0, logs["rerun"].read_text()[-3000:]
    assert _labels(store, "killed").read_bytes() == _labels(store, "reference").read_bytes()
    assert (stage / "_SUCCESS").exists()
