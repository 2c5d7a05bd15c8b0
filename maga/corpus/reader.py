"""Read a source corpus: a local folder or ``s3://`` prefix of JSONL, JSONL.gz or
Parquet files, or the built-in sample corpus.

Bad records never crash a read and are never dropped silently: each becomes a
quarantine entry naming the file, the record (line or row number) and the reason:
``malformed_json``, ``invalid_utf8``, ``missing_field``, ``not_text``, ``empty_text``
or ``duplicate_id``.
"""

from __future__ import annotations

import gzip
import io
import json
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from maga.config import CorpusConfig
from maga.corpus.builtin import WIKI_URI, wiki_records
from maga.storage import ObjectInfo, Storage

SUFFIXES = (".jsonl", ".jsonl.gz", ".parquet")


class CorpusError(ValueError):
    """The corpus location itself is unusable (missing, empty, wrong format)."""


@dataclass(frozen=True)
class Record:
    id: str
    text: str
    lang: str | None
    source: str  # file URI and record number, for error messages and provenance


@dataclass(frozen=True)
class Quarantined:
    source: str
    id: str | None
    reason: str
    detail: str = ""

    def as_dict(self) -> dict[str, Any]:
        return {"source": self.source, "id": self.id, "reason": self.reason, "detail": self.detail}


def list_shards(cfg: CorpusConfig, storage: Storage) -> list[ObjectInfo]:
    if cfg.uri.startswith("builtin://"):
        return []
    uri = cfg.uri
    if any(uri.endswith(s) for s in SUFFIXES):  # a single file
        if not storage.exists(uri):
            raise CorpusError(f"corpus file not found: {uri}")
        return [ObjectInfo(uri=uri, size=0, etag=storage.etag(uri))]
    local = storage.local_path(uri)
    if local is not None and not local.exists():
        raise CorpusError(f"corpus folder not found: {uri}")
    found = storage.list(uri)
    shards = [o for o in found if o.uri.endswith(SUFFIXES)]
    if not shards:
        other = sorted({o.uri.rsplit("/", 1)[-1] for o in found})[:5]
        hint = f" (found only: {', '.join(other)})" if other else ""
        raise CorpusError(f"no .jsonl, .jsonl.gz or .parquet files under {uri}{hint}")
    return shards


def raw_rows(storage: Storage, uri: str) -> Iterator[tuple[int, Any]]:
    """Yield (record number, dict or Quarantined reason) for one shard."""
    if uri.endswith(".parquet"):
        import pyarrow.parquet as pq

        data = io.BytesIO(storage.read_bytes(uri))
        n = 0
        for batch in pq.ParquetFile(data).iter_batches(batch_size=1024):
            for row in batch.to_pylist():
                n += 1
                yield n, row
        return
    with storage.open_read(uri) as raw:
        stream = gzip.GzipFile(fileobj=raw) if uri.endswith(".gz") else raw
        for n, line in enumerate(stream, start=1):
            if not line.strip():
                continue
            try:
                text = line.decode("utf-8")
            except UnicodeDecodeError as exc:  # the line with U+FFFD, to recover its id
                yield n, ("invalid_utf8", str(exc), line.decode("utf-8", errors="replace"))
                continue
            try:
                yield n, json.loads(text)
            except json.JSONDecodeError as exc:
                yield n, ("malformed_json", exc.msg)


def iter_records(
    cfg: CorpusConfig, storage: Storage, quarantine: list[Quarantined]
) -> Iterator[Record]:
    """Valid records in a stable order; invalid ones are appended to ``quarantine``."""
    if cfg.uri.startswith("builtin://"):
        if cfg.uri != WIKI_URI:
            raise CorpusError(f"unknown built-in corpus {cfg.uri!r} (known: {WIKI_URI})")
        for r in wiki_records(cfg.languages, cfg.limit):
            yield Record(r["id"], r["text"], r["lang"], f"{WIKI_URI}#{r['id']}")
        return
    seen: set[str] = set()
    for shard in list_shards(cfg, storage):
        for n, row in raw_rows(storage, shard.uri):
            where = f"{shard.uri}:{n}"
            if isinstance(row, tuple):
                quarantine.append(Quarantined(where, None, row[0], row[1]))
                continue
            rec = validate_record(row, cfg, where)
            if isinstance(rec, Quarantined):
                quarantine.append(rec)
            elif rec.id in seen:
                quarantine.append(Quarantined(where, rec.id, "duplicate_id"))
            else:
                seen.add(rec.id)
                yield rec


def validate_record(row: Any, cfg: CorpusConfig, where: str) -> Record | Quarantined:
    if not isinstance(row, dict):
        return Quarantined(where, None, "malformed_json", "record is not a JSON object")
    missing = [f for f in (cfg.id_field, cfg.text_field) if row.get(f) is None]
    if missing:
        return Quarantined(
            where,
            _str_or_none(row.get(cfg.id_field)),
            "missing_field",
            f"missing {', '.join(missing)}",
        )
    doc_id, text = str(row[cfg.id_field]), row[cfg.text_field]
    if not isinstance(text, str):
        return Quarantined(where, doc_id, "not_text", f"{cfg.text_field} is {type(text).__name__}")
    if not text.strip():
        return Quarantined(where, doc_id, "empty_text")
    lang = row.get(cfg.lang_field) if cfg.lang_field else None
    return Record(doc_id, text, lang if isinstance(lang, str) else None, where)


def _str_or_none(value: Any) -> str | None:
    return None if value is None else str(value)
