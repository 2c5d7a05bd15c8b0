"""A tool-models stage SIGKILLed mid-way (the task's process group: the pipeline and its
vLLM engine process), then rerun in the same run, gives the same output bytes as a run
that was never interrupted. Tiny profile, real vLLM engine, the teacher's (genre,
audience) stage."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
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


HOOKS = {"MAGA_TEST_KEPT_CHUNK": "4"}  # kept files of 4 requests: several in a tiny stage
GENERATED = re.compile(r"teacher: generated (\d+) requests in (\d+) chunks in this attempt")


def _run(store: Path, run_id: str, log: Path, **env_extra: str) -> subprocess.Popen:
    env = dict(os.environ, VLLM_CPU_KVCACHE_SPACE="1", PYTHONPATH=str(ROOT), **HOOKS,
               **env_extra)  # fmt: skip
    with log.open("ab") as out:
        return subprocess.Popen(
            [sys.executable, "-c", SCRIPT, str(store), run_id, UNTIL], cwd=ROOT, env=env,
            stdout=out, stderr=subprocess.STDOUT, start_new_session=True,
        )  # fmt: skip


def _labels(store: Path, run_id: str) -> Path:
    return store / "runs" / "maga_tool_models" / run_id / "teacher_ga" / "labels.jsonl"


def _generated(log: Path) -> list[tuple[int, int]]:
    return [(int(a), int(b)) for a, b in GENERATED.findall(log.read_text(errors="replace"))]


def test_sigkilled_teacher_stage_reruns_only_the_missing_chunks_to_identical_output(tmp_path):
    """The kill comes at a deterministic point (the process SIGKILLs itself right after
    writing its first kept chunk, MAGA_TEST_CRASH_AFTER_KEPT_CHUNKS), so the rerun must
    resume from real partial work, and it sends the engine only the missing requests."""
    store = tmp_path / "store"
    logs = {name: tmp_path / f"{name}.log" for name in ("reference", "killed", "rerun")}
    ref = _run(store, "reference", logs["reference"])
    assert ref.wait(timeout=1500) == 0, logs["reference"].read_text()[-3000:]
    [(total, chunks)] = _generated(logs["reference"])
    assert chunks >= 3 and total > 8, (total, chunks)  # several kept chunks to lose

    killed = _run(store, "killed", logs["killed"], MAGA_TEST_CRASH_AFTER_KEPT_CHUNKS="1")
    assert killed.wait(timeout=1500) == -signal.SIGKILL, logs["killed"].read_text()[-3000:]
    stage = _labels(store, "killed").parent
    kept = sorted((stage / "partial").glob("chunk-*.jsonl"))
    assert len(kept) == 1, kept  # the partial work that existed at the kill
    kept_rows = len(kept[0].read_text().splitlines())
    assert kept_rows == 4 and not (stage / "_SUCCESS").exists()
    assert _generated(logs["killed"]) == []  # killed inside the stream

    again = _run(store, "killed", logs["rerun"])
    assert again.wait(timeout=1500) == 0, logs["rerun"].read_text()[-3000:]
    rerun = logs["rerun"].read_text(errors="replace")
    assert f"teacher: 1 of {chunks} chunks kept from an earlier attempt" in rerun
    assert _generated(logs["rerun"]) == [(total - kept_rows, chunks - 1)]  # only the missing
    assert _labels(store, "killed").read_bytes() == _labels(store, "reference").read_bytes()
    assert (stage / "_SUCCESS").exists()
