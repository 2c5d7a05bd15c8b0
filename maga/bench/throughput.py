"""Measured generation throughput, kept with the hardware it was measured on.

``maga bench`` (CPU) and ``maga bench-gpu`` append one entry per measurement to
``<storage.root>/bench/throughput.json``; a cost plan reads it back with
:func:`last_measured` instead of guessing a tokens/s figure::

    from maga.bench.throughput import last_measured
    tps = last_measured()  # this machine, any model; None if never measured here

An entry: ``hardware`` (``cpu_model``, ``cpu_cores``, ``gpu``, ``gpu_count``), its
``hardware_id``, ``model``, ``profile``, ``tokens_per_s`` (output tokens per second of
the corpus stage, one engine), ``source`` (which benchmark) and ``measured_at``.
"""

from __future__ import annotations

import datetime as dt
import os
import platform
from pathlib import Path
from typing import Any

from maga.storage import Storage
from maga.storage.base import join_uri

FILE = ("bench", "throughput.json")
KEEP = 200  # newest entries kept in the file


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.lower().startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def hardware(gpu: str | None = None, gpu_count: int = 0) -> dict[str, Any]:
    """This machine: CPU model and cores, plus the GPU a GPU benchmark ran on."""
    return {
        "cpu_model": _cpu_model(),
        "cpu_cores": os.cpu_count() or 0,
        "gpu": gpu,
        "gpu_count": gpu_count if gpu else 0,
    }


def hardware_id(hw: dict[str, Any] | None = None) -> str:
    """One string naming a kind of machine: ``gpu:<name>x<n>`` or ``cpu:<model>x<cores>``."""
    hw = hw or hardware()
    if hw.get("gpu"):
        return f"gpu:{hw['gpu']}x{hw.get('gpu_count') or 1}"
    return f"cpu:{hw['cpu_model']}x{hw['cpu_cores']}"


def default_root() -> str:
    from maga.config import load_config
    from maga.runs.context import resolve_root

    return resolve_root(load_config("tiny").storage.root)


def path(root: str | None = None) -> str:
    return join_uri(root or default_root(), *FILE)


def record(entry: dict[str, Any], root: str | None = None) -> str:
    """Append one measurement (``hardware`` and ``tokens_per_s`` required); returns the file."""
    if "hardware" not in entry or not isinstance(entry.get("tokens_per_s"), int | float):
        raise ValueError("a throughput entry needs 'hardware' and a numeric 'tokens_per_s'")
    storage, uri = Storage(), path(root)
    data = storage.read_json(uri) if storage.exists(uri) else {"version": 1, "entries": []}
    stamp = dt.datetime.now(dt.UTC).isoformat(timespec="seconds")
    row = {"hardware_id": hardware_id(entry["hardware"]), "measured_at": stamp, **entry}
    data["entries"] = (data["entries"] + [row])[-KEEP:]
    storage.write_json(uri, data)
    return uri


def entries(root: str | None = None) -> list[dict[str, Any]]:
    storage, uri = Storage(), path(root)
    return storage.read_json(uri)["entries"] if storage.exists(uri) else []


def last_measured(
    hardware: str | dict[str, Any] | None = None,
    *,
    model: str | None = None,
    source: str | None = None,
    root: str | None = None,
) -> float | None:
    """Output tokens/s of the newest measurement on ``hardware`` (a :func:`hardware_id`
    string or a :func:`hardware` dict; default this machine), optionally of one ``model``
    and ``source``; None when nothing matching was measured."""
    want = hardware if isinstance(hardware, str) else hardware_id(hardware)
    for e in reversed(entries(root)):
        if e["hardware_id"] != want:
            continue
        if model is not None and e.get("model") != model:
            continue
        if source is not None and e.get("source") != source:
            continue
        return float(e["tokens_per_s"])
    return None
