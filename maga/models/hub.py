"""Hugging Face hub ids (``Qwen/Qwen3-8B``, ``org/name@revision``) as local model folders.

Every place that names a model (teacher, ``distill.base``, the SLMs, the judge, the
token-counting tokenizer) goes through :func:`maga.models.builtin.resolve_model`, which
sends hub ids here. A hub id is fetched once with ``huggingface_hub.snapshot_download``
into the hub cache (``HF_HUB_CACHE``, else ``$HF_HOME/hub``; compose mounts a volume
there) and the snapshot folder is returned, so transformers, vLLM and llm-compressor all
read the same files. With ``HF_HUB_OFFLINE=1`` only the cache is used, and a model that
is not in it is a clear error rather than a network call.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

from maga.log import get_logger

log = get_logger("models.hub")

# owner/name with an optional @revision (branch, tag or commit), as on the hub.
_HUB_ID = re.compile(r"^(?P<repo>[A-Za-z0-9][\w.-]*/[\w.-]+)(?:@(?P<rev>[\w./-]+))?$")
_TRUE = {"1", "true", "yes", "on"}


def parse_hub_id(name: str) -> tuple[str, str | None] | None:
    """``(repo_id, revision)`` when ``name`` has the shape of a hub id, else None."""
    match = _HUB_ID.match(name.strip())
    if not match or ".." in name:
        return None
    return match.group("repo"), match.group("rev")


def hub_cache_dir() -> Path:
    """Where hub snapshots live, read at call time (huggingface_hub reads it at import)."""
    explicit = os.environ.get("HF_HUB_CACHE")
    if explicit:
        return Path(explicit)
    home = os.environ.get("HF_HOME") or os.path.join(
        os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache"), "huggingface"
    )
    return Path(home) / "hub"


def hub_offline() -> bool:
    return os.environ.get("HF_HUB_OFFLINE", "").strip().lower() in _TRUE


def resolve_hub_model(name: str) -> str:
    """Return the local snapshot folder of hub id ``name``, downloading it if allowed.

    Raises ValueError naming the model, the cache folder and what to do when the model
    is not cached and cannot be downloaded (offline, unknown repo, no access).
    """
    parsed = parse_hub_id(name)
    if parsed is None:
        raise ValueError(f"{name!r} is not a Hugging Face hub id (expected 'org/name[@rev]')")
    repo_id, revision = parsed
    cache = hub_cache_dir()
    offline = hub_offline()
    from huggingface_hub import snapshot_download

    try:
        folder = snapshot_download(
            repo_id,
            revision=revision,
            cache_dir=str(cache),
            local_files_only=offline,
            # Weights as safetensors only: never the .bin/.pt/.gguf duplicates some repos hold.
            ignore_patterns=["*.bin", "*.pt", "*.pth", "*.gguf", "*.h5", "*.msgpack", "*.onnx"],
        )
    except Exception as exc:  # LocalEntryNotFound, RepositoryNotFound, gated, network...
        hint = (
            "HF_HUB_OFFLINE=1 is set and the model is not in the cache: download it first "
            "(`hf download " + repo_id + "` with the same HF_HOME) or unset HF_HUB_OFFLINE"
            if offline
            else "check the id, network access to the hub, and HF_TOKEN for gated models"
        )
        raise ValueError(
            f"model {name!r}: could not resolve the Hugging Face hub id in cache {cache} "
            f"({type(exc).__name__}: {exc}); {hint}"
        ) from exc
    path = Path(folder)
    if not (path / "config.json").is_file():
        raise ValueError(f"model {name!r}: hub snapshot {path} has no config.json")
    log.info("model %s -> %s", name, path)
    return str(path)
