"""One storage API for local paths and ``s3://bucket/key`` URIs.

Local URIs are paths (absolute, or relative to the current directory). Local writes are
atomic (temp file in the same folder, fsync, ``os.replace``); S3 writes are single
``put_object`` calls, which S3 shows all at once. Listings skip names starting with
``.`` or ``_`` (temp files, ``_SUCCESS`` markers). S3 credentials: see :func:`s3_client`.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, BinaryIO

from maga.config import StorageConfig
from maga.storage.base import ObjectInfo, StorageError, is_s3, join_uri, local_path
from maga.storage.local import LocalBackend
from maga.storage.s3 import S3Backend, s3_client

__all__ = ["ObjectInfo", "Storage", "StorageError", "dumps_json", "is_s3", "join_uri", "s3_client"]


def dumps_json(obj: Any) -> str:
    """The one JSON form every file of this project is written in: indented, keys in
    insertion order (deterministic for deterministic code), UTF-8 kept, newline at the end."""
    return json.dumps(obj, indent=2, ensure_ascii=False) + "\n"


class Storage:
    """Read, write and list local paths and ``s3://`` URIs alike.

    Errors are :class:`StorageError` naming the URI; a missing file or object reads as
    ``not found: <uri>``. The boto3 client is created on the first S3 call.
    """

    def __init__(self, cfg: StorageConfig | None = None) -> None:
        self.cfg = cfg or StorageConfig()
        self._local = LocalBackend()
        self._s3 = S3Backend(self.cfg)

    def _backend(self, uri: str) -> LocalBackend | S3Backend:
        return self._s3 if is_s3(uri) else self._local

    @property
    def s3(self) -> Any:
        """The boto3 client (created now if needed)."""
        return self._s3.client

    def read_bytes(self, uri: str) -> bytes:
        with self.open_read(uri) as fh:
            return fh.read()

    def write_bytes(self, uri: str, data: bytes) -> None:
        """Atomic: readers see the old content or the new, never a part."""
        self._backend(uri).write_bytes(uri, bytes(data))

    def read_text(self, uri: str) -> str:
        return self.read_bytes(uri).decode("utf-8")

    def write_text(self, uri: str, text: str) -> None:
        self.write_bytes(uri, text.encode("utf-8"))

    def read_json(self, uri: str) -> Any:
        try:
            return json.loads(self.read_bytes(uri))
        except json.JSONDecodeError as exc:
            raise StorageError(f"not valid JSON: {uri}: {exc}") from exc

    def write_json(self, uri: str, obj: Any) -> None:
        self.write_text(uri, dumps_json(obj))

    def open_read(self, uri: str) -> BinaryIO:
        """A binary stream to read from; the caller closes it (``with`` works)."""
        return self._backend(uri).open_read(uri)

    def read_range(self, uri: str, start: int, length: int) -> bytes:
        """``length`` bytes from offset ``start`` (fewer at the end): an S3 ranged GET."""
        return self._backend(uri).read_range(uri, start, length)

    def exists(self, uri: str) -> bool:
        """True for an existing file or object, and for a folder/prefix with content."""
        return self._backend(uri).exists(uri)

    def etag(self, uri: str) -> str:
        """S3 ETag (quotes stripped), or sha256 hex of a local file's content."""
        return self._backend(uri).etag(uri)

    def list(self, prefix_uri: str, suffixes: tuple[str, ...] | None = None) -> list[ObjectInfo]:
        """Files below the folder ``prefix_uri`` at any depth, sorted by URI, optionally
        only those ending in one of ``suffixes``. Names starting with ``.`` or ``_`` in
        any path component below the prefix are left out; a missing folder gives []."""
        found = self._backend(prefix_uri).list(prefix_uri, tuple(suffixes) if suffixes else None)
        return sorted(found, key=lambda o: o.uri)

    def delete(self, uri: str) -> None:
        """Delete one file or object; nothing happens when it is missing."""
        self._backend(uri).delete(uri)

    def delete_prefix(self, prefix_uri: str) -> int:
        """Delete everything below the folder ``prefix_uri`` (hidden names too); the count."""
        return self._backend(prefix_uri).delete_prefix(prefix_uri)

    def upload_dir(self, local_dir: str | Path, uri: str) -> int:
        """Make ``uri`` a copy of the local folder (replacing what was there); files copied."""
        src = Path(local_dir)
        if not src.is_dir():
            raise StorageError(f"not found: {local_dir} (no such folder)")
        return self._backend(uri).upload_dir(src, uri)

    def download_dir(self, uri: str, local_dir: str | Path) -> int:
        """Copy every file below ``uri`` into ``local_dir`` (same names overwritten,
        other files kept); the number of files."""
        return self._backend(uri).download_dir(uri, Path(local_dir))

    def put_file(self, local: str | Path, uri: str) -> None:
        """Copy a local file to ``uri`` without holding it in memory; atomic at ``uri``."""
        self._backend(uri).put_file(Path(local), uri)

    def get_file(self, uri: str, local: str | Path) -> Path:
        """A local path holding ``uri``'s content: the file itself when ``uri`` is local,
        else a download to ``local``."""
        return self._backend(uri).get_file(uri, Path(local))

    def copy(self, src: str, dest: str) -> None:
        """Copy within one backend, atomically at ``dest``."""
        if is_s3(src) != is_s3(dest):
            raise StorageError(f"cannot copy between backends: {src} -> {dest}")
        self._backend(dest).copy(src, dest)

    def local_path(self, uri: str) -> Path | None:
        """The Path of a local URI, None for ``s3://``."""
        return local_path(uri)
