"""Moving whole files between local disk and storage without holding them in memory,
and the small JSON/JSONL chunk files of the staging area.

S3 uploads and copies use boto3's managed transfers (multipart for big files; the object
appears only when the transfer completes). Local writes go to a hidden temp file in the
same folder and are renamed into place, so a reader never sees a partial file.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

from maga.jsonl import iter_jsonl
from maga.jsonl import write_jsonl as _write_jsonl
from maga.storage import Storage


def put_file(storage: Storage, local: Path, uri: str) -> None:
    storage.put_file(local, uri)


def get_file(storage: Storage, uri: str, local: Path) -> Path:
    return storage.get_file(uri, local)


def copy_file(storage: Storage, src: str, dest: str) -> None:
    storage.copy(src, dest)


def write_json(storage: Storage, uri: str, obj: Any) -> None:
    storage.write_json(uri, obj)


def write_jsonl(storage: Storage, uri: str, rows: list[dict[str, Any]]) -> None:
    _write_jsonl(storage, uri, rows)


def iter_jsonl_stream(storage: Storage, uri: str) -> Iterator[dict[str, Any]]:
    return iter_jsonl(storage, uri)


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
