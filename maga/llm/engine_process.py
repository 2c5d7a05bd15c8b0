"""The parent's side of a session's engine worker process (``python -m maga.llm.worker
--session``, driven by :class:`maga.llm.session.EngineSession`): read deadlines, the
determinism default, starting and ending the process, progress lines of a stream.
"""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

from maga.llm.lifecycle import LineReader, kill_group, worker_popen_kwargs
from maga.llm.specs import GenerationJobError
from maga.log import get_logger

# The job machinery's one logger, as before it was split into modules (task logs name it).
log = get_logger("llm.jobs")

# Deadlines of reads from an engine worker (seconds; env vars override). Start-up covers
# a first download of the model into the hub cache and CUDA graph capture.
START_TIMEOUT_ENV = "MAGA_ENGINE_START_TIMEOUT_S"
REPLY_TIMEOUT_ENV = "MAGA_ENGINE_REPLY_TIMEOUT_S"  # one batch of a session
# Seconds between progress lines (requests done, tokens/s, ETA) while a stream runs.
PROGRESS_ENV, DEFAULT_PROGRESS_S = "MAGA_PROGRESS_EVERY_S", 30.0
DEFAULT_START_TIMEOUT_S = 3600.0
DEFAULT_REPLY_TIMEOUT_S = 7200.0


def accelerator_visible() -> bool:
    """A GPU this process can use: kept engines would hold memory a training stage needs
    there. On a CPU build engines and training share host memory, which
    ``runner.keep_engines`` sizes."""
    try:
        import torch
    except ImportError:
        return False
    return bool(torch.cuda.is_available())


def default_deterministic() -> bool:
    """Reproducible engines unless a GPU is visible: on a CPU engine they cost nothing;
    on a GPU (vLLM 0.24) per-request seeds make the sampler loop over requests in Python
    and determinism runs the engine core in-process (docs/gpu-check.md measures both)."""
    return not accelerator_visible()


def spawn_session_worker(spec_path: Path) -> tuple[subprocess.Popen, LineReader]:
    """Start ``python -m maga.llm.worker --session`` on ``spec_path``: the process (text
    stdin for commands, stdout and stderr merged) and a reader of its reply pipe."""
    read_fd, write_fd = os.pipe()
    cmd = [sys.executable, "-m", "maga.llm.worker", "--session", str(spec_path), str(write_fd)]
    env = dict(os.environ, PYTHONUNBUFFERED="1", TOKENIZERS_PARALLELISM="false")
    # Own session and process group; the worker and its engine core die with us.
    proc = subprocess.Popen(
        cmd,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        pass_fds=(write_fd,),
        **worker_popen_kwargs(env),
    )
    os.close(write_fd)
    return proc, LineReader(read_fd)


def end_worker(proc: subprocess.Popen, force: bool = False) -> None:
    """End a session worker: ask it to close (unless ``force``), then kill its process
    group, so an engine core it left behind goes too."""
    grace = 0.0
    if proc.poll() is None and not force:
        try:
            assert proc.stdin is not None
            proc.stdin.write(json.dumps({"op": "close"}) + "\n")
            proc.stdin.close()
        except (BrokenPipeError, OSError):
            pass
        grace = 120.0
    kill_group(proc, grace_s=grace)
    if proc.stdin is not None:
        with contextlib.suppress(BrokenPipeError, OSError):
            proc.stdin.close()


def no_reply_error(label: str, timeout_s: float, tail: list[str]) -> GenerationJobError:
    """A session worker that did not answer a command within ``timeout_s`` (the caller
    kills it)."""
    return GenerationJobError(
        f"{label}: no reply from the engine process within {timeout_s:.0f}s "
        f"({REPLY_TIMEOUT_ENV}); killed it; last output:\n" + "\n".join(tail)
    )


def exited_error(label: str, code: int | None, tail: list[str]) -> GenerationJobError:
    """A session worker that ended while a command was in flight."""
    return GenerationJobError(
        f"{label}: engine process exited with {code}; last output:\n" + "\n".join(tail)
    )


def log_progress(label: str, p: dict[str, Any], total: int) -> None:
    """A stream's progress line in the task log: requests done, tokens/s, ETA."""
    done, seconds = int(p["done"]), float(p["seconds"]) or 1e-9
    eta = (total - done) * seconds / done if done else 0.0
    log.info("%s: %d/%d requests, %.1f completion tok/s, ETA %.0fs", label, done, total,
             p["completion_tokens"] / seconds, eta)  # fmt: skip
