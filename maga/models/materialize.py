"""Model folders of a run: trained into a local folder, uploaded when the run lives
on S3, and downloaded again (cached) by the task that needs them."""

from __future__ import annotations

from pathlib import Path

from maga.runs.context import RunContext
from maga.storage import is_s3


def publish_model(ctx: RunContext, local: Path, *parts: str) -> str:
    uri = ctx.uri(*parts)
    if is_s3(uri):
        ctx.storage.upload_dir(str(local), uri)
    return uri


def model_dir(ctx: RunContext, *parts: str) -> str:
    """A local folder holding the run's model ``parts`` (downloaded once from S3)."""
    local = ctx.local_dir(*parts)
    if is_s3(ctx.run_uri) and not (local / "config.json").exists():
        ctx.storage.download_dir(ctx.uri(*parts), str(local))
    if not (local / "config.json").exists():
        raise FileNotFoundError(f"model folder {ctx.uri(*parts)} has no config.json")
    return str(local)
