"""Model folders of a run: trained into a local folder, uploaded when the run lives
on S3, and downloaded again (cached) by the task that needs them."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Protocol

from maga.models.adapters import base_parts, is_adapter, read_meta
from maga.storage import is_s3


class RunContext(Protocol):
    """What these helpers use of a run (``maga.runs.context.RunContext``); a protocol, so
    this package does not import ``maga.runs`` (which imports ``maga.llm``, and that this
    package)."""

    run_uri: str
    storage: Any

    def uri(self, *parts: str) -> str: ...

    def local_dir(self, *parts: str) -> Path: ...


def publish_model(ctx: RunContext, local: Path, *parts: str) -> str:
    uri = ctx.uri(*parts)
    if is_s3(uri):
        ctx.storage.upload_dir(str(local), uri)
    return uri


def _is_model(local: Path) -> bool:
    return (local / "config.json").exists() or is_adapter(local)


def model_dir(ctx: RunContext, *parts: str) -> str:
    """A local folder holding the run's model ``parts`` (downloaded once from S3): a
    model, or a LoRA adapter whose base (named in its ``maga_adapter.json``) is then
    made local too, at the same relative place."""
    local = ctx.local_dir(*parts)
    if is_s3(ctx.run_uri) and not _is_model(local):
        ctx.storage.download_dir(ctx.uri(*parts), str(local))
    if not _is_model(local):
        raise FileNotFoundError(f"model folder {ctx.uri(*parts)} has no config.json")
    if is_adapter(local):
        model_dir(ctx, *base_parts(parts, read_meta(local)["base"]))
    return str(local)
