"""Task logs lead with the stage's lines: library chatter stays out at INFO, progress
bars are off without a terminal (in an Airflow task stderr is logged as ERROR)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = """
import logging, sys
logging.basicConfig(level=logging.INFO, stream=sys.stdout)  # like Airflow's task handler
from maga.log import get_logger
get_logger("stage").info("stage line")
import great_expectations  # registers ~200 functions, logging each at INFO
from maga.gates.core import _batch_definition
_batch_definition("x")  # a GE context, as a gate task builds one
from tqdm import tqdm
for _ in tqdm(range(3), desc="Loading weights"):
    pass
from transformers.utils import logging as tlog
print("transformers bars:", tlog.is_progress_bar_enabled())
"""


def run(level: str | None) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items()
           if k not in ("TQDM_DISABLE", "HF_HUB_DISABLE_PROGRESS_BARS", "MAGA_LOG_LEVEL")}  # fmt: skip
    if level:
        env["MAGA_LOG_LEVEL"] = level
    return subprocess.run([sys.executable, "-c", SCRIPT], capture_output=True, text=True,
                          cwd=ROOT, env=env, timeout=240, check=True)  # fmt: skip


@pytest.mark.timeout(300)
def test_library_chatter_and_progress_bars_stay_out_of_task_logs():
    done = run(None)
    assert "stage line" in done.stdout
    assert "Skipping registering" not in done.stdout + done.stderr
    assert "Created temporary directory" not in done.stdout  # a GE module's own INFO level
    assert "Loading weights" not in done.stderr  # no bar on stderr (= ERROR in Airflow)
    assert "transformers bars: False" in done.stdout


@pytest.mark.timeout(300)
def test_debug_lets_the_chatter_through():
    done = run("DEBUG")
    assert "Skipping registering" in done.stdout
