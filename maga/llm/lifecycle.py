"""Engine processes that cannot outlive the task that started them.

The engine worker (``python -m maga.llm.worker``) runs in a session and process group
of its own, so the task can kill it together with every process it started (vLLM's
engine core, its GPU workers) with one ``killpg``. Each of those processes also asks
the kernel for SIGKILL when its parent dies (``PR_SET_PDEATHSIG``): the worker when the
task dies, the engine core when the worker dies, even under SIGKILL, when no Python
code runs to clean up (vLLM issue #55510: an orphaned engine core keeps the GPU).

Reads from the worker go through :class:`LineReader`: ``select`` with a deadline and a
liveness check, so an orphan that still holds the worker's stdout or reply pipe open
cannot hang the task on a read that never sees EOF.

Linux only (``prctl``); elsewhere the process-group kill is the only guard. The kernel
sends the parent-death signal when the *thread* that started the child ends: start an
engine session from a thread that lives as long as the session (the task's own thread).
"""

from __future__ import annotations

import contextlib
import ctypes
import ctypes.util
import os
import select
import signal
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

from maga.log import get_logger

log = get_logger("llm.lifecycle")

PR_SET_PDEATHSIG = 1
#: Set in the worker's environment; every process below it inherits it.
WORKER_ENV = "MAGA_ENGINE_WORKER"
#: The pid the worker must have as its parent (the task's process).
PARENT_ENV = "MAGA_ENGINE_PARENT_PID"
_fork_parent: list[int] = []


def _prctl_pdeathsig(sig: int) -> bool:
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
        return libc.prctl(PR_SET_PDEATHSIG, int(sig), 0, 0, 0) == 0
    except (OSError, AttributeError):  # not Linux / no prctl
        return False


def die_with_parent(expected_parent: int | None = None) -> bool:
    """Ask for SIGKILL when this process's parent dies; exit now if it already has."""
    ok = _prctl_pdeathsig(signal.SIGKILL)
    if expected_parent is not None and os.getppid() != expected_parent:
        os._exit(70)  # the parent died before prctl took effect: nobody would reap us
    return ok


def _before_fork() -> None:
    _fork_parent[:] = [os.getpid()]


def _after_fork_in_child() -> None:
    die_with_parent(_fork_parent[0] if _fork_parent else None)


def install_in_engine_process() -> None:
    """In the worker and every process below it (forked or spawned): die with the parent.

    Runs at import of ``maga.llm.worker``, which multiprocessing's spawn re-imports in
    its children as their main module; forked children get it from the fork hook.
    Does nothing outside an engine worker (``MAGA_ENGINE_WORKER`` unset), so importing
    the module in a test or a task changes nothing.
    """
    if os.environ.get(WORKER_ENV) != "1" or _fork_parent:
        return
    die_with_parent()
    _fork_parent.append(os.getppid())
    os.register_at_fork(before=_before_fork, after_in_child=_after_fork_in_child)


def check_task_alive() -> None:
    """In the worker's main: exit if the task died before the death signal was armed."""
    parent = os.environ.get(PARENT_ENV)
    if parent and os.getppid() != int(parent):
        log.error("the task (pid %s) is gone; engine worker exits", parent)
        os._exit(70)


def worker_popen_kwargs(env: dict[str, str]) -> dict:
    """Popen arguments for an engine worker: own session, the lifecycle environment."""
    env = dict(env)
    env[WORKER_ENV] = "1"
    env[PARENT_ENV] = str(os.getpid())
    return {"env": env, "start_new_session": True}


def kill_group(proc: subprocess.Popen, grace_s: float = 0.0) -> None:
    """SIGKILL the worker's whole process group (it leads it) and reap the worker."""
    if grace_s > 0 and proc.poll() is None:
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.wait(timeout=grace_s)
    with contextlib.suppress(ProcessLookupError, PermissionError):  # empty group: done
        os.killpg(proc.pid, signal.SIGKILL)
    try:
        proc.wait(timeout=30)
    except subprocess.TimeoutExpired:  # pragma: no cover - SIGKILL cannot be ignored
        log.error("engine worker %d did not exit after SIGKILL", proc.pid)


def timeout_setting(name: str, default: float) -> float:
    """Seconds from the env var ``name`` (a positive number), else ``default``."""
    raw = os.environ.get(name, "").strip()
    if not raw:
        return default
    try:
        value = float(raw)
    except ValueError as exc:
        raise ValueError(f"{name}={raw!r} is not a number of seconds") from exc
    if value <= 0:
        raise ValueError(f"{name}={raw!r} must be positive")
    return value


class ReadTimeout(TimeoutError):
    """Nothing came from the worker before the deadline."""


class LineReader:
    """Lines from a pipe, each read bounded by a deadline and the writer's liveness.

    ``readline(timeout_s, alive)`` returns the next line (without its newline), or None
    once the pipe is at EOF or ``alive()`` turned false and nothing more is buffered;
    raises :class:`ReadTimeout` after ``timeout_s`` seconds without a full line.
    """

    POLL_S = 0.5

    def __init__(self, fd: int) -> None:
        self.fd = fd
        self._buf = b""
        self._eof = False

    def _take(self) -> str | None:
        if b"\n" in self._buf:
            line, self._buf = self._buf.split(b"\n", 1)
            return line.decode("utf-8", errors="replace")
        return None

    def readline(self, timeout_s: float, alive: Callable[[], bool]) -> str | None:
        deadline = time.monotonic() + timeout_s
        while True:
            line = self._take()
            if line is not None:
                return line
            if self._eof:
                rest, self._buf = self._buf, b""
                return rest.decode("utf-8", errors="replace") if rest else None
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise ReadTimeout(f"no reply within {timeout_s:.0f}s")
            ready, _, _ = select.select([self.fd], [], [], min(self.POLL_S, remaining))
            if ready:
                chunk = os.read(self.fd, 65536)
                if chunk:
                    self._buf += chunk
                else:
                    self._eof = True
            elif not alive():
                # The writer is gone but the pipe is still open: an orphan holds it.
                self._eof = True

    def close(self) -> None:
        with contextlib.suppress(OSError):
            os.close(self.fd)


def descendants(pid: int, *, zombies: bool = False) -> set[int]:
    """Every process below ``pid`` in the process tree (Linux ``/proc``); zombies
    (exited, not yet reaped) are left out unless ``zombies``."""
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            raw = Path(f"/proc/{entry}/stat").read_text()
        except OSError:
            continue
        fields = raw[raw.rindex(")") + 2 :].split()  # after the command name
        if zombies or fields[0] not in {"Z", "X"}:
            children.setdefault(int(fields[1]), []).append(int(entry))
    found, todo = set(), [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            if child not in found:
                found.add(child)
                todo.append(child)
    return found
