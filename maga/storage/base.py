"""What both storage backends share: the object record, the error, URI helpers."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class ObjectInfo:
    uri: str
    size: int
    etag: str  # S3 ETag without quotes; sha256 hex of the content for local files


class StorageError(RuntimeError):
    """A storage operation failed; the message names the URI."""


def is_s3(uri: str) -> bool:
    return uri.startswith("s3://")


def join_uri(base: str, *parts: str) -> str:
    """``base`` with ``parts`` appended by ``/``; empty parts are skipped, and the slashes
    around each part dropped (so a part never restarts the path from the root)."""
    clean = [p.strip("/") for p in parts if p and p.strip("/")]
    if not clean:
        return base
    if "://" in base:  # s3:// or file://: plain string joining keeps the scheme intact
        return "/".join([base.rstrip("/"), *clean])
    return str(Path(base, *clean))


def local_path(uri: str) -> Path | None:
    """The Path of a local URI (plain path or ``file://``), None for ``s3://``."""
    if is_s3(uri):
        return None
    if uri.startswith("file://"):
        return Path(uri[len("file://") :])
    if "://" in uri:
        raise StorageError(f"unsupported URI scheme: {uri}")
    return Path(uri)


def visible(rel: str) -> bool:
    """False when any component of the relative path starts with ``.`` or ``_``."""
    return not any(part.startswith((".", "_")) for part in rel.split("/") if part)
