"""Distil the small tool models (SLMs): derive a student from the teacher, then fine-tune it.

``derive_student`` (student.py) builds the starting model folder; ``train_sft`` (train.py)
fine-tunes it on prompt/completion records with the loss on the completion only.
Importing this package is cheap: torch and transformers load only when a function runs.

Both steps publish their output folder atomically through :func:`publish_dir`.
"""

from __future__ import annotations

from typing import Any

from maga.models.publish import publish_dir

__all__ = ["TrainSettings", "derive_student", "encode_example", "publish_dir", "train_sft"]

_LAZY = {
    "derive_student": "maga.distill.student",
    "TrainSettings": "maga.distill.train",
    "encode_example": "maga.distill.train",
    "train_sft": "maga.distill.train",
}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'maga.distill' has no attribute {name!r}")
    import importlib

    return getattr(importlib.import_module(module), name)
