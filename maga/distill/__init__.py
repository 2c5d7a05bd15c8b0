"""Distil the small tool models (SLMs): derive a student from the teacher, then fine-tune it.

``derive_student`` (student.py) builds the starting model folder; ``train_sft`` (train.py)
fine-tunes it on prompt/completion records with the loss on the completion only.
Importing this package is cheap: torch and transformers load only when a function runs.

Both steps publish their output folder atomically through :func:`publish_dir`.
"""

from __future__ import annotations

import contextlib
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

__all__ = ["TrainSettings", "derive_student", "encode_example", "publish_dir", "train_sft"]

_LAZY = {
    "derive_student": "maga.distill.student",
    "TrainSettings": "maga.distill.train",
    "encode_example": "maga.distill.train",
    "train_sft": "maga.distill.train",
}


@contextlib.contextmanager
def publish_dir(out_dir: str | Path) -> Iterator[Path]:
    """Yield an empty temp sibling of ``out_dir``; on success rename it to ``out_dir``.

    An existing ``out_dir`` (say, a stale result) is replaced only once the new folder is
    complete. On error the temp folder is removed and ``out_dir`` is left untouched.
    """
    out = Path(out_dir)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.tmp-", dir=out.parent))
    tmp.chmod(0o755)  # mkdtemp makes it private; publish it readable like a normal folder
    try:
        yield tmp
        old = None
        if out.exists():
            old = Path(tempfile.mkdtemp(prefix=f".{out.name}.old-", dir=out.parent))
            out.rename(old / out.name)
        try:
            tmp.rename(out)
        except OSError:
            if old is not None:  # put the previous folder back
                (old / out.name).rename(out)
            raise
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'maga.distill' has no attribute {name!r}")
    import importlib

    return getattr(importlib.import_module(module), name)
