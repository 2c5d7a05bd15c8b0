"""Stream the records of ONE source shard, whatever its size or format.

JSONL and JSONL.gz are read line by line from storage; Parquet is read by record
batches (only the id, text and language columns), from a local copy when on S3.
Each item is ``(record number, row dict)`` or ``(record number, (reason, detail[,
line]))`` for a line that is not a JSON object, as ``maga.corpus.reader`` reports it
(an invalid UTF-8 line comes with its text decoded with replacement characters, from
which :func:`record_id` recovers the id).
"""

from __future__ import annotations

import json
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from maga.config import CorpusConfig
from maga.corpus.reader import raw_rows
from maga.storage import Storage

PARQUET_BATCH = 1024


class ShardSchemaError(ValueError):
    """The shard as a whole cannot be read as records (e.g. Parquet without the columns)."""


def iter_shard(storage: Storage, uri: str, corpus: CorpusConfig) -> Iterator[tuple[int, Any]]:
    if not uri.endswith(".parquet"):
        yield from raw_rows(storage, uri)
        return
    import pyarrow.parquet as pq

    with tempfile.TemporaryDirectory(prefix="maga-shard-") as tmp:
        path = storage.get_file(uri, Path(tmp) / "shard.parquet")
        try:
            pf = pq.ParquetFile(path)
        except Exception as exc:
            raise ShardSchemaError(f"{uri}: not a readable Parquet file: {exc}") from exc
        names = set(pf.schema_arrow.names)
        missing = [f for f in (corpus.id_field, corpus.text_field) if f not in names]
        if missing:
            raise ShardSchemaError(f"{uri}: Parquet schema lacks column(s) {', '.join(missing)}")
        columns = [corpus.id_field, corpus.text_field]
        if corpus.lang_field and corpus.lang_field in names:
            columns.append(corpus.lang_field)
        n = 0
        for batch in pf.iter_batches(batch_size=PARQUET_BATCH, columns=columns):
            for row in batch.to_pylist():
                n += 1
                yield n, row


def record_id(row: Any, id_field: str) -> str | None:
    """The id of a source record as far as it can be known: the id field of a JSON
    object, or of an invalid UTF-8 line decoded with replacement characters."""
    if isinstance(row, tuple):
        if len(row) < 3:
            return None
        try:
            row = json.loads(row[2])
        except ValueError:
            return None
    if isinstance(row, dict) and row.get(id_field) is not None:
        return str(row[id_field])
    return None
