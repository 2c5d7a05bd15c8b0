"""Rows appended in batches to a local Parquet file, for outputs too big to hold in
memory; the finished file goes to storage with ``Storage.put_file``."""

from __future__ import annotations

from pathlib import Path
from typing import Any

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
