"""Derive the starting weights of a student model from the teacher (or another folder).

Specs:

* ``"teacher"``: the teacher itself, re-saved as safetensors in its own dtype;
* ``"teacher-layers:N"``: the teacher's embeddings, final norm, lm_head and first N decoder
  layers (a Llama-style ``model.model.layers`` stack), with ``num_hidden_layers = N``;
* anything else: a local HF model folder, a ``builtin:`` name or a Hugging Face hub id
  (resolved through :func:`maga.models.builtin.resolve_model`).
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from maga.distill import publish_dir
from maga.log import get_logger
from maga.models.builtin import resolve_model

log = get_logger("distill.student")

_LAYERS = re.compile(r"^teacher-layers:(-?\d+)$")
_TOKENIZER_FILES = ("tokenizer.json", "tokenizer_config.json", "tokenizer.model")


def derive_student(teacher_dir: str | Path, spec: str, out_dir: str | Path) -> dict[str, Any]:
    """Write the student described by ``spec`` to ``out_dir`` (atomically) and describe it.

    Returns ``{"spec", "parameters", "layers"}``. Raises ValueError for a bad spec, a
    layer count outside ``1..teacher layers`` or a source that is not a model folder.
    """
    teacher = _model_folder(str(teacher_dir), what="teacher")
    keep: int | None = None
    match = _LAYERS.match(spec.strip())
    if spec.strip() == "teacher":
        source = teacher
    elif match:
        source, keep = teacher, int(match.group(1))
    elif spec.startswith("teacher-layers"):
        raise ValueError(f"bad student spec {spec!r}: expected 'teacher-layers:N' with N an int")
    else:
        source = _model_folder(spec, what="student base")

    from transformers import AutoModelForCausalLM, AutoTokenizer

    model = AutoModelForCausalLM.from_pretrained(str(source), dtype="auto")
    if keep is not None:
        _truncate_layers(model, keep)
    tok_source = source if any((source / f).exists() for f in _TOKENIZER_FILES) else teacher
    tokenizer = AutoTokenizer.from_pretrained(str(tok_source))

    with publish_dir(out_dir) as tmp:
        model.save_pretrained(tmp, safe_serialization=True)
        tokenizer.save_pretrained(tmp)
    info = {
        "spec": spec,
        "parameters": int(model.num_parameters()),
        "layers": int(model.config.num_hidden_layers),
    }
    log.info("student %s from %s: %s -> %s", spec, source, info, out_dir)
    return info


def _model_folder(path: str, what: str) -> Path:
    """Resolve ``path`` (folder, builtin: name or hub id) to a folder with a config.json."""
    local = Path(resolve_model(path))
    if not (local.is_dir() and (local / "config.json").is_file()):
        raise ValueError(
            f"{what} {path!r} is not a model folder with a config.json, a builtin: name "
            "or a Hugging Face hub id (org/name)"
        )
    return local


def _truncate_layers(model: Any, keep: int) -> None:
    """Keep the first ``keep`` decoder layers of a Llama-style causal LM, in place."""
    import torch

    inner = getattr(model, "model", None)
    layers = getattr(inner, "layers", None)
    if not isinstance(layers, torch.nn.ModuleList):
        raise ValueError(
            f"'teacher-layers:N' needs a Llama-style model (model.model.layers); "
            f"got {type(model).__name__}"
        )
    total = len(layers)
    if not 1 <= keep <= total:
        raise ValueError(f"teacher-layers:{keep}: N must be between 1 and {total}")
    inner.layers = torch.nn.ModuleList(list(layers)[:keep])
    config = model.config
    config.num_hidden_layers = keep
    layer_types = getattr(config, "layer_types", None)
    if isinstance(layer_types, list) and len(layer_types) == total:
        config.layer_types = layer_types[:keep]
