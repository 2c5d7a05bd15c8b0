"""The LocalExecutor of ``make airflow`` (maga/deploy/executor.py): its real worker
processes, which fork every task process, are started with the listed libraries already
imported and without any ``maga`` module, so tasks inherit the libraries but import the
project's code as it is on disk now."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.timeout(180)
ROOT = Path(__file__).resolve().parents[2]

# Runs in a fresh interpreter: the real executor starts one real worker (a fork of this
# process, as in the scheduler), then reports what that worker has mapped and what this
# process still holds of maga.
PROBE = r"""
import json, os, sys
from maga.deploy.executor import WarmLocalExecutor

executor = WarmLocalExecutor(parallelism=1)
executor.start()
try:
    (pid,) = executor.workers
    maps = open(f"/proc/{pid}/maps").read()
    print("PROBE", json.dumps({
        "worker_has_torch": "libtorch_cpu" in maps,
        "maga_modules_at_fork": sorted(n for n in sys.modules if n.split(".")[0] == "maga"),
    }))
finally:
    executor.end()
"""


def _probe(tmp_path: Path, preload: str) -> tuple[dict, str]:
    env = {**os.environ, "AIRFLOW_HOME": str(tmp_path), "MAGA_AIRFLOW_PRELOAD": preload,
           "AIRFLOW__CORE__EXECUTOR": "maga.deploy.executor.WarmLocalExecutor"}  # fmt: skip
    done = subprocess.run([sys.executable, "-c", PROBE], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=150)  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    (line,) = [x for x in done.stdout.splitlines() if x.startswith("PROBE ")]
    return json.loads(line[len("PROBE ") :]), done.stdout + done.stderr


def test_workers_fork_with_the_libraries_imported_and_no_project_module(tmp_path: Path):
    seen, log = _probe(tmp_path, "torch,no_such_library_xyz")
    assert seen["worker_has_torch"], "the worker was forked before torch was imported"
    assert seen["maga_modules_at_fork"] == [], "tasks would run the scheduler's stale maga"
    # a library that does not import is named, and the scheduler starts anyway
    assert "pre-import of no_such_library_xyz failed (ModuleNotFoundError" in log
    assert "task processes start with torch already imported" in log


def test_an_empty_list_imports_nothing(tmp_path: Path):
    seen, log = _probe(tmp_path, "")
    assert not seen["worker_has_torch"]
    assert "task processes start with nothing already imported" in log
