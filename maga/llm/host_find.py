"""Finding the engine host that matches this process (:mod:`maga.llm.host`), or starting
it: its socket is named by a fingerprint of the Python, the ``maga`` source and the
engine-relevant environment (``VLLM_*``, ``ATEN_*``, ``ONEDNN_*``, thread settings, ...)
and the determinism, so a task never borrows an engine built under other settings.
Sockets, locks and the hosts' logs live in ``$MAGA_ENGINE_HOST_DIR`` (default: a private
folder in the temp dir, so each machine and container has its own).
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path

from maga.llm.lifecycle import PARENT_ENV, WORKER_ENV
from maga.llm.specs import GenerationJobError

DIR_ENV = "MAGA_ENGINE_HOST_DIR"
START_WAIT_S = 120.0  # a new host must listen within this
_ENV_PREFIXES = ("VLLM_", "ATEN_", "ONEDNN_", "DNNL_", "OMP_", "KMP_", "MKL_", "CUDA_", "HF_",
                 "TORCH", "PYTORCH_", "TRANSFORMERS_", "MAGA_ENGINE_", "MAGA_TEST_",
                 "PYTHONPATH", "LD_PRELOAD", "LD_LIBRARY_PATH")  # fmt: skip


def host_dir() -> Path:
    raw = os.environ.get(DIR_ENV, "").strip()
    path = Path(raw) if raw else Path(tempfile.gettempdir()) / f"maga-engine-hosts-{os.getuid()}"
    path.mkdir(mode=0o700, parents=True, exist_ok=True)
    return path


def fingerprint(deterministic: bool) -> str:
    """What an engine's output and speed depend on besides its spec."""
    digest = hashlib.sha256()
    root = Path(__file__).resolve().parents[1]  # the maga package
    for path in sorted(root.rglob("*.py")):
        digest.update(str(path.relative_to(root)).encode() + b"\0" + path.read_bytes())
    env = sorted((k, v) for k, v in os.environ.items() if k.startswith(_ENV_PREFIXES))
    digest.update(json.dumps([sys.executable, env, deterministic, os.uname().nodename]).encode())
    return digest.hexdigest()[:16]


@contextlib.contextmanager
def host_lock(sock_path: Path) -> Iterator[None]:
    """The lock under which a client connects to or starts a host, and a host leaves."""
    with open(sock_path.with_suffix(".lock"), "a") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def _connect(path: Path) -> socket.socket | None:
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        sock.connect(str(path))
        return sock
    except OSError:  # no socket, or a host that died without removing it
        sock.close()
        return None


def _spawn(path: Path, idle_s: float, deterministic: bool) -> subprocess.Popen:
    env = {k: v for k, v in os.environ.items() if k not in (WORKER_ENV, PARENT_ENV)}
    env["PYTHONUNBUFFERED"] = "1"
    cmd = [sys.executable, "-m", "maga.llm.host", str(path), str(idle_s),
           "1" if deterministic else "0"]  # fmt: skip
    with open(path.with_suffix(".log"), "a") as out:
        proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT,
                                env=env, start_new_session=True, close_fds=True)  # fmt: skip
    threading.Thread(target=proc.wait, daemon=True).start()  # reap it if it ends before us
    return proc


def connect(deterministic: bool, idle_s: float) -> tuple[socket.socket, Path, bool]:
    """A socket to the matching host, started here if none runs: (socket, path, started)."""
    path = host_dir() / f"{fingerprint(deterministic)}.sock"
    if len(str(path).encode()) > 107:  # what a Unix socket's address holds on Linux
        raise ValueError(f"{DIR_ENV}={path.parent}: too long a folder for an engine host's "
                         "socket; pick a path under 80 characters")  # fmt: skip
    with host_lock(path):
        sock = _connect(path)
        if sock is not None:
            return sock, path, False
        path.unlink(missing_ok=True)  # a host that died without removing its socket
        proc = _spawn(path, idle_s, deterministic)
        deadline = time.monotonic() + START_WAIT_S
        while (sock := _connect(path)) is None:
            if proc.poll() is not None or time.monotonic() > deadline:
                tail = path.with_suffix(".log").read_text(errors="replace")[-2000:]
                raise GenerationJobError(
                    f"the engine host did not start (log {path.with_suffix('.log')}):\n{tail}"
                )
            time.sleep(0.05)
        return sock, path, True


def _ask(path: Path, op: str, timeout_s: float) -> dict | None:
    """One command to the host at ``path`` and its reply (relayed log lines skipped);
    None when no host answers there (gone, or busy with a task past ``timeout_s``)."""
    sock = _connect(path)
    if sock is None:
        return None
    with contextlib.closing(sock):
        sock.settimeout(timeout_s)
        try:
            sock.sendall((json.dumps({"op": op}) + "\n").encode())
            for line in sock.makefile("r", encoding="utf-8"):
                reply = json.loads(line)
                if "log" not in reply:
                    return reply
        except (OSError, ValueError):
            return None
    return None


def list_hosts(folder: Path | None = None, timeout_s: float = 2.0) -> list[dict]:
    """Each socket in ``folder`` (default :func:`host_dir`) with its host's status:
    ``{"socket", "pid", "kept" (model paths), "idle_s", "engine_starts", ...}``, or
    ``{"socket", "busy": True}`` for a host serving a task, ``"gone"`` for a dead one."""
    out = []
    for path in sorted((folder or host_dir()).glob("*.sock")):
        reply = _ask(path, "status", timeout_s)
        if reply is None:
            state = "busy" if _connect(path) is not None else "gone"
            out.append({"socket": str(path), state: True})
        else:
            out.append({"socket": str(path), **reply})
    return out


def stop_hosts(folder: Path | None = None, timeout_s: float = 15.0) -> int:
    """Ask every host with a socket in ``folder`` (default :func:`host_dir`) to end now
    (one serving a task ends when that task is done); how many answered."""
    return sum(_ask(p, "shutdown", timeout_s) is not None
               for p in sorted((folder or host_dir()).glob("*.sock")))  # fmt: skip


def print_hosts(stop: bool = False) -> None:
    """``maga engine-hosts [--stop]``: a line per host, then stop them all if asked."""
    hosts = list_hosts()
    for h in hosts:
        if h.get("busy") or h.get("gone"):
            state = "busy: serving a task" if h.get("busy") else "gone: no process answers"
        else:
            state = (f"pid {h['pid']}, {h['engine_starts']} engine start(s), keeps "
                     f"{len(h['kept'])}: {', '.join(h['kept']) or '-'}; ends "
                     f"{h['idle_s']:.0f} s after its last task")  # fmt: skip
        print(f"{Path(h['socket']).name}  {state}")
    print(f"{len(hosts)} engine host(s) in {host_dir()}")
    if stop:
        print(f"stopped {stop_hosts()}")
