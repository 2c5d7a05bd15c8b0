"""``maga bench-gpu --dry-run`` end to end, as a user runs it.

Not here (too slow for the suite's budget on this 2-core VM): a tiny real run of
``run_bench`` (over 12 minutes under load at 2 documents x3) and of ``bench-lora``'s
runner (7 minutes: two adapter trainings, five engines)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.timeout(120)
def test_bench_gpu_dry_run_through_the_command_line(tmp_path):
    """``maga bench-gpu --dry-run`` as a user runs it: a process of its own, no engine."""
    out = tmp_path / "plan.json"
    run = subprocess.run([sys.executable, "-m", "maga.cli", "bench-gpu", "--dry-run",
                          "--out", str(out)], cwd=ROOT, capture_output=True, text=True,
                         env={**os.environ, "PYTHONPATH": str(ROOT)}, timeout=100)  # fmt: skip
    assert run.returncode == 0, run.stderr[-2000:]
    assert run.stdout.startswith("DRY RUN")
    plan = json.loads(out.read_text())
    assert plan["dry_run"] and plan["configs"] and all("engine_args" in c for c in plan["configs"])
