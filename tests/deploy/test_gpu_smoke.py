"""`make gpu-smoke`'s CPU dry mode: one line per check, every input prepared; without a
GPU the real mode refuses with a clear line instead of failing somewhere inside."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from maga.deploy.gpu_smoke import CHECKS, run

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.slow
@pytest.mark.timeout(600)
def test_dry_run_prints_one_line_per_check(tmp_path: Path) -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "maga.deploy.gpu_smoke", "--dry-run", "--workdir", str(tmp_path)],
        cwd=ROOT, capture_output=True, text=True, timeout=560,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )  # fmt: skip
    lines = [ln for ln in proc.stdout.splitlines() if ln.split(" ", 1)[0] in CHECKS]
    assert proc.returncode == 0, proc.stdout + proc.stderr[-3000:]
    assert [ln.split()[0] for ln in lines] == list(CHECKS)
    assert all(ln.split()[1] == "DRY" for ln in lines), lines
    # The FP8 checkpoint the real check would load was written, as compressed-tensors.
    config = (tmp_path / "smollm2-shaped-fp8" / "config.json").read_text()
    assert '"quant_method": "compressed-tensors"' in config
    sft = next(ln for ln in lines if ln.startswith("sft_gpu"))
    assert "bf16, checkpointing" in sft


@pytest.mark.timeout(60)
def test_without_a_gpu_the_real_mode_says_so(tmp_path: Path) -> None:
    import torch

    if torch.cuda.is_available():
        pytest.skip("a GPU is present: the real mode runs (make gpu-smoke)")
    lines: list[str] = []
    assert run(False, tmp_path, emit=lines.append) == 2
    assert lines == ["gpu_smoke FAIL no CUDA device here: run it on a GPU machine, or --dry-run"]
