"""Moving whole files between local disk and storage without holding them in memory,
and the small JSON/JSONL chunk files of the staging area.

S3 uploads and copies use boto3's managed transfers (multipart for big files; the object
appears only when the transfer completes). Local writes go to a hidden temp file in the
same folder and are renamed into place, so a reader never sees a partial file.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from maga.storage import Storage, StorageError
from maga.storage.s3 import split_s3


def _local_replace(src: Path, dest: Path) -> None:
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = dest.with_name(f".{dest.name}.{secrets.token_hex(6)}.tmp")
    try:
        shutil.copyfile(src, tmp)
        with open(tmp, "rb+") as fh:
            os.fsync(fh.fileno())
        os.replace(tmp, dest)
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        raise StorageError(f"cannot write {dest}: {exc}") from exc


def put_file(storage: Storage, local: Path, uri: str) -> None:
    """Copy a local file to ``uri`` atomically."""
    dest = storage.local_path(uri)
    if dest is not None:
        _local_replace(Path(local), dest)
        return
    bucket, key = split_s3(uri)
    try:
        storage.s3.upload_file(str(local), bucket, key)
    except Exception as exc:
        raise StorageError(f"S3 upload failed for {uri}: {type(exc).__name__}: {exc}") from exc


def get_file(storage: Storage, uri: str, local: Path) -> Path:
    """The local path of ``uri``: itself when local, else a download to ``local``."""
    src = storage.local_path(uri)
    if src is not None:
        if not src.exists():
            raise StorageError(f"not found: {uri}")
        return src
    bucket, key = split_s3(uri)
    Path(local).parent.mkdir(parents=True, exist_ok=True)
    try:
        storage.s3.download_file(bucket, key, str(local))
    except Exception as exc:
        raise StorageError(f"S3 download failed for {uri}: {type(exc).__name__}: {exc}") from exc
    return Path(local)


def copy_file(storage: Storage, src: str, dest: str) -> None:
    """Copy ``src`` to ``dest`` (same backend) atomically at the destination."""
    src_path, dest_path = storage.local_path(src), storage.local_path(dest)
    if src_path is not None and dest_path is not None:
        _local_replace(src_path, dest_path)
        return
    if src_path is None and dest_path is None:
        (sb, sk), (db, dk) = split_s3(src), split_s3(dest)
        try:
            storage.s3.copy({"Bucket": sb, "Key": sk}, db, dk)
        except Exception as exc:
            raise StorageError(f"S3 copy {src} -> {dest} failed: {exc}") from exc
        return
    raise StorageError(f"cannot copy between backends: {src} -> {dest}")


def write_json(storage: Storage, uri: str, obj: Any) -> None:
    """Compact, key-sorted JSON: the same content always gives the same bytes."""
    data = json.dumps(obj, ensure_ascii=False, sort_keys=True, separators=(",", ":"))
    storage.write_text(uri, data)


def read_json(storage: Storage, uri: str) -> Any:
    return storage.read_json(uri)


def write_jsonl(storage: Storage, uri: str, rows: list[dict[str, Any]]) -> None:
    lines = (json.dumps(r, ensure_ascii=False, sort_keys=True) + "\n" for r in rows)
    storage.write_text(uri, "".join(lines))


def iter_jsonl_stream(storage: Storage, uri: str) -> Iterator[dict[str, Any]]:
    """Rows of a JSONL file read line by line (the file is never loaded whole)."""
    with storage.open_read(uri) as fh:
        for line in fh:
            if line.strip():
                yield json.loads(line)


def chunk_indexes(storage: Storage, folder: str) -> list[int]:
    """Indexes of the ``chunk-NNNNN.*`` files in ``folder``, ascending."""
    found = []
    for info in storage.list(folder):
        name = info.uri.rsplit("/", 1)[-1]
        if name.startswith("chunk-"):
            found.append(int(name[len("chunk-") :].split(".")[0]))
    return sorted(found)


ROW_GROUP = 8192


class ParquetRows:
    """Rows appended in batches to a local Parquet file (row groups of ROW_GROUP)."""

    def __init__(self, path: Path, schema: Any) -> None:
        import pyarrow.parquet as pq

        self.path, self.schema, self.rows, self.count = path, schema, [], 0
        self.writer = pq.ParquetWriter(path, schema, compression="zstd")

    def add(self, row: dict[str, Any]) -> None:
        self.rows.append(row)
        self.count += 1
        if len(self.rows) >= ROW_GROUP:
            self.flush()

    def flush(self) -> None:
        if self.rows:
            import pyarrow as pa

            self.writer.write_table(pa.Table.from_pylist(self.rows, schema=self.schema))
            self.rows = []

    def close(self) -> None:
        self.flush()
        self.writer.close()
