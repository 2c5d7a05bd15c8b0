"""JSON Lines on any storage URI (atomic writes through :class:`maga.storage.Storage`)."""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from typing import Any

from maga.storage import Storage


def dumps_jsonl(records: Iterable[dict[str, Any]]) -> bytes:
    return "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records).encode("utf-8")


def write_jsonl(storage: Storage, uri: str, records: Iterable[dict[str, Any]]) -> int:
    records = list(records)
    storage.write_bytes(uri, dumps_jsonl(records))
    return len(records)


def iter_jsonl(storage: Storage, uri: str) -> Iterator[dict[str, Any]]:
    """Rows of a JSONL file, read line by line: the file is never loaded whole."""
    with storage.open_read(uri) as fh:
        for line in fh:
            if line.strip():
                yield json.loads(line)


def read_jsonl(storage: Storage, uri: str) -> list[dict[str, Any]]:
    return list(iter_jsonl(storage, uri))
