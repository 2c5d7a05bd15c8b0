"""Measured generation throughput, kept with the hardware it was measured on.

One store for every measurement: ``maga bench`` (CPU), ``maga bench-gpu`` and every
real corpus refresh record one; the dry-run cost plan reads the newest back instead of
guessing a tokens/s figure::

    from maga.throughput import last_measured
    tps = last_measured()  # this machine, any model; None if never measured here

Each measurement is one file, ``<storage root>/throughput/<hardware>/<time>-<source>.json``
(no read-modify-write, so concurrent writers are safe). An entry holds ``hardware``
(``cpu_model``, ``cpu_cores``, ``isa``, ``gpu``, ``gpu_count``), its ``hardware_id``, ``model``,
``precision`` (the engine's dtype, when the writer knows it),
``tokens_per_s`` (output tokens per second of the corpus stage, one engine), ``source``
(which benchmark or run), ``measured_at``, and whatever else the writer adds.
"""

from __future__ import annotations

import datetime as dt
import os
import re
import shutil
import subprocess
from functools import cache
from typing import Any

from maga import hardware as hw_facts
from maga.storage import Storage
from maga.storage.base import join_uri

FOLDER = "throughput"
NEWEST = 200  # measurements read back per hardware


@cache
def _local_gpus() -> tuple[str, ...]:
    if not shutil.which("nvidia-smi"):
        return ()
    try:
        out = subprocess.run(["nvidia-smi", "--query-gpu=name", "--format=csv,noheader"],
                             capture_output=True, text=True, timeout=10).stdout  # fmt: skip
    except (OSError, subprocess.SubprocessError):
        return ()
    return tuple(g.strip() for g in out.splitlines() if g.strip())


def hardware(gpu: str | None = None, gpu_count: int = 0) -> dict[str, Any]:
    """This machine: CPU model and cores, and its GPUs (or the GPU a benchmark names)."""
    if gpu is None and (found := _local_gpus()):
        gpu, gpu_count = found[0], len(found)
    cpu = hw_facts.cpu()
    return {
        "cpu_model": cpu.model,
        "cpu_cores": os.cpu_count() or 0,
        "isa": cpu.isa,  # as torch/oneDNN dispatch (ATEN_CPU_CAPABILITY lowers it)
        "gpu": gpu,
        "gpu_count": (gpu_count or 1) if gpu else 0,
    }


def hardware_id(hw: dict[str, Any] | None = None) -> str:
    """One string naming a kind of machine: ``gpu:<name>x<n>`` or
    ``cpu:<model>x<cores>:<isa>`` (the ISA level engines dispatch to, so a run with a
    lowered ``ATEN_CPU_CAPABILITY`` never lends its speed to the full machine)."""
    hw = hw or hardware()
    if hw.get("gpu"):
        return f"gpu:{hw['gpu']}x{hw.get('gpu_count') or 1}"
    isa = f":{hw['isa']}" if hw.get("isa") else ""
    return f"cpu:{hw['cpu_model']}x{hw['cpu_cores']}{isa}"


def _folder_name(hw_id: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "_", hw_id).strip("_")[:120]


def default_root() -> str:
    from maga.config import load_config
    from maga.runs.context import resolve_root

    return resolve_root(load_config("tiny").storage.root)


def folder(root: str | None = None, hw_id: str | None = None) -> str:
    return join_uri(root or default_root(), FOLDER, _folder_name(hw_id or hardware_id()))


def record(entry: dict[str, Any], root: str | None = None, storage: Storage | None = None) -> str:
    """Store one measurement (``hardware`` and a numeric ``tokens_per_s`` required);
    returns its URI."""
    if "hardware" not in entry or not isinstance(entry.get("tokens_per_s"), int | float):
        raise ValueError("a throughput entry needs 'hardware' and a numeric 'tokens_per_s'")
    at = dt.datetime.now(dt.UTC)
    hw_id = hardware_id(entry["hardware"])
    row = {"hardware_id": hw_id, "measured_at": at.isoformat(timespec="seconds"), **entry}
    source = re.sub(r"[^A-Za-z0-9._-]+", "_", str(entry.get("source") or "measurement"))[:60]
    uri = join_uri(folder(root, hw_id), f"{at.strftime('%Y%m%dT%H%M%S%f')}-{source}.json")
    (storage or Storage()).write_json(uri, row)
    return uri


def entries(
    root: str | None = None, hardware: str | dict[str, Any] | None = None,
    storage: Storage | None = None,
) -> list[dict[str, Any]]:  # fmt: skip
    """Measurements on ``hardware`` (default this machine), oldest first."""
    storage = storage or Storage()
    want = hardware if isinstance(hardware, str) else hardware_id(hardware)
    found = sorted(storage.list(folder(root, want), (".json",)), key=lambda i: i.uri)
    return [storage.read_json(i.uri) for i in found[-NEWEST:]]


def last_entry(
    hardware: str | dict[str, Any] | None = None,
    *,
    model: str | None = None,
    source: str | None = None,
    root: str | None = None,
    storage: Storage | None = None,
    any_model: bool = False,
    precision: str | None = None,
) -> dict[str, Any] | None:
    """The newest measurement on ``hardware`` (a :func:`hardware_id` string or a
    :func:`hardware` dict; default this machine), of ``model``, ``source`` and engine
    ``precision`` (its ``precision`` field, the dtype the engine ran in) when given;
    with ``any_model``, the newest of any model when ``model`` was never measured."""
    rows = [e for e in entries(root, hardware, storage)
            if (source is None or e.get("source") == source)
            and (precision is None or e.get("precision") == precision)]  # fmt: skip
    same = [e for e in rows if model is None or e.get("model") == model]
    if same:
        return same[-1]
    return rows[-1] if any_model and rows else None


def last_measured(
    hardware: str | dict[str, Any] | None = None,
    *,
    model: str | None = None,
    source: str | None = None,
    root: str | None = None,
) -> float | None:
    """Output tokens/s of the newest matching measurement; None when there is none."""
    e = last_entry(hardware, model=model, source=source, root=root)
    return float(e["tokens_per_s"]) if e else None
