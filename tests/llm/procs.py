"""Process-table helpers for lifecycle tests (Linux /proc)."""

from __future__ import annotations

import time
from pathlib import Path

from maga.llm import lifecycle


def _stat(pid: int) -> tuple[str, int] | None:
    """(state, ppid) of ``pid``, or None when it does not exist."""
    try:
        raw = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = raw[raw.rindex(")") + 2 :].split()
    return fields[0], int(fields[1])


def alive(pid: int) -> bool:
    """Running (a zombie waiting to be reaped counts as gone)."""
    st = _stat(pid)
    return st is not None and st[0] not in {"Z", "X"}


def descendants(pid: int) -> set[int]:
    """Every process below ``pid``, zombies included (:func:`alive` tells them apart)."""
    return lifecycle.descendants(pid, zombies=True)


def wait_gone(pids: set[int], timeout_s: float) -> set[int]:
    """Wait until none of ``pids`` runs; return those still running at the deadline."""
    deadline = time.monotonic() + timeout_s
    while True:
        left = {p for p in pids if alive(p)}
        if not left or time.monotonic() > deadline:
            return left
        time.sleep(0.1)


def cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
    except OSError:
        return ""
