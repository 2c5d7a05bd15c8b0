"""Find the registered tool models (GA-SLM, reformulation SLM) a refresh run uses.

The registry lives at ``<storage root>/registry/tool_models/``: ``vNNNN/manifest.json``
per version and ``latest.json`` pointing at the newest. A run resolves "latest" once, in
discover, so every shard of the run uses the same version. Models on S3 are downloaded
once into the local model cache before vLLM loads them.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path
from typing import Any

from maga.config import PROJECT_ROOT, MagaConfig
from maga.log import get_logger
from maga.megadocs.tokens import TokenCounter
from maga.registry.manifest import ROLES, find_manifest, read_manifest
from maga.registry.manifest import registry_root as _registry_root
from maga.runs.context import resolve_root
from maga.storage import Storage, is_s3

log = get_logger("refresh.models")


def registry_root(cfg: MagaConfig) -> str:
    return _registry_root(resolve_root(cfg.storage.root))


def resolve_tool_models(cfg: MagaConfig, storage: Storage, version: str) -> dict[str, Any]:
    """Version number, manifest URI and the two models' URIs (quantized when present)."""
    uri = find_manifest(storage, registry_root(cfg), version)
    manifest = read_manifest(storage, uri)
    found = {
        "version": manifest.version,
        "manifest": uri,
        "models": {role: manifest.model_for(role, uri).serving_uri for role in ROLES},
        "demo_models": manifest.demo_models,
    }
    adapters = {role: manifest.model_for(role, uri).adapter for role in ROLES}
    if any(adapters.values()):  # LoRA adapters of the base in "models"
        found["adapters"] = adapters
    log.info("tool models v%04d from %s", found["version"], uri)
    return found


def local_model_dir(storage: Storage, uri: str, version: int) -> str:
    """A local folder vLLM can load: the path itself, or a cached download from S3 (one
    per model URI, so two roles served by one model share a folder and an engine)."""
    if not is_s3(uri):
        return str(storage.local_path(uri))
    base = Path(os.environ.get("MAGA_MODEL_CACHE") or Path(PROJECT_ROOT, "var", "models"))
    name = f"{uri.rstrip('/').rsplit('/', 1)[-1]}-{hashlib.sha1(uri.encode()).hexdigest()[:10]}"
    target = base / "registry" / f"v{version:04d}" / name
    done = target / ".complete"
    if not done.exists():
        log.info("downloading %s to %s", uri, target)
        storage.download_dir(uri, target)
        done.write_text(uri)
    return str(target)


def tokenizer_path(ctx: Any) -> str:
    """The local folder of the tokenizer published token counts use:
    ``refresh.mix.tokenizer`` is ``reformulation_slm`` (the run's tool model, whose
    tokenizer is its teacher's) or any model path ``maga.models.builtin.resolve_model``
    understands."""
    from maga.models.builtin import resolve_model
    from maga.refresh.discover import read_plan

    name = ctx.config.refresh.mix.tokenizer
    if name == "reformulation_slm":
        tm = read_plan(ctx)["tool_models"]
        return local_model_dir(ctx.storage, tm["models"]["reformulation_slm"], tm["version"])
    return str(resolve_model(name))


def counter_for(ctx: Any) -> TokenCounter:
    return TokenCounter(tokenizer_path(ctx))
