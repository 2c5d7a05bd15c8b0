"""LoRA adapter folders: a peft adapter plus the base model it belongs to.

An adapter folder holds peft's ``adapter_config.json`` and weights, and
``maga_adapter.json`` naming its base as a path relative to the adapter folder (a run's
``train_ga_slm/model`` points at ``../../distill_base/model``), so the pair can be moved
or downloaded together. vLLM serves adapters of one base from one engine
(:class:`maga.llm.jobs.ModelSpec` ``lora``).
"""

from __future__ import annotations

import json
import os
import posixpath
from pathlib import Path
from typing import Any

PEFT_CONFIG = "adapter_config.json"
META = "maga_adapter.json"


def is_adapter(folder: str | Path) -> bool:
    return (Path(folder) / PEFT_CONFIG).is_file()


def write_meta(adapter_dir: str | Path, base_dir: str | Path, **extra: Any) -> None:
    """Record ``base_dir`` in ``adapter_dir``, relative to it."""
    rel = os.path.relpath(Path(base_dir).resolve(), Path(adapter_dir).resolve())
    (Path(adapter_dir) / META).write_text(json.dumps({"base": rel, **extra}, indent=2))


def read_meta(adapter_dir: str | Path) -> dict[str, Any]:
    path = Path(adapter_dir) / META
    if not path.is_file():
        raise FileNotFoundError(f"{adapter_dir} is a LoRA adapter without {META} (no base)")
    return json.loads(path.read_text())


def base_of(adapter_dir: str | Path) -> str:
    """The local folder of the adapter's base model."""
    return os.path.normpath(Path(adapter_dir) / read_meta(adapter_dir)["base"])


def base_parts(parts: tuple[str, ...], rel: str) -> tuple[str, ...]:
    """The run-relative parts of a base named ``rel`` from the adapter at ``parts``."""
    joined = posixpath.normpath(posixpath.join(*parts, rel))
    if joined.startswith(".."):
        raise ValueError(f"adapter base {rel!r} leaves the run (from {'/'.join(parts)})")
    return tuple(joined.split("/"))


def rank_of(adapter_dir: str | Path) -> int:
    """The adapter's LoRA rank (peft's ``r``)."""
    return int(json.loads((Path(adapter_dir) / PEFT_CONFIG).read_text())["r"])
