"""Benchmark decontamination: n-gram overlap of rewrites (and, as an option, sources)
with user-supplied evaluation sets.

Each benchmark is a local or ``s3://`` file of JSONL (``.jsonl``, ``.jsonl.gz``),
Parquet or plain text (``.txt``, one item per line). An item's text is the listed
fields joined, or every string field when none are listed. Every ``n``-word window of
every item (CJK characters count as words; case and punctuation ignored) goes into one
sorted array of 64-bit hashes; a text is contaminated when any of its own ``n``-word
windows is in it. The first match names the benchmark and the n-gram. Items shorter
than ``n`` words cannot match (as in the common 13-gram practice).

With a ``cache`` folder (the clean step passes ``<output>/dedup/decontam``), each
benchmark's hashes are built once per version (its file's etag, fields and ``n``) and
stored there as a compact artifact, ``<name>-<digest>.npy`` (8 bytes per n-gram, the
item count in the first slot); later tasks read that instead of the raw file. Any task
may write it: the content is a function of the name, so a race writes the same bytes.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from maga.config import BenchmarkSource, DecontamConfig
from maga.storage import Storage
from maga.text import ngrams, tokens


class BenchmarkError(ValueError):
    """A benchmark file that cannot be used; the message names it."""


def _hash(gram: str) -> int:
    return int.from_bytes(hashlib.blake2b(gram.encode(), digest_size=8).digest(), "little",
                          signed=True)  # fmt: skip


def _item_text(record: object, fields: list[str], where: str) -> str:
    if isinstance(record, str):
        return record
    if not isinstance(record, dict):
        raise BenchmarkError(f"{where}: a record is not a JSON object")
    if fields:
        return "\n".join(str(record[f]) for f in fields if record.get(f) is not None)
    parts: list[str] = []
    for value in record.values():
        if isinstance(value, str):
            parts.append(value)
        elif isinstance(value, list):
            parts.extend(v for v in value if isinstance(v, str))
    return "\n".join(parts)


def iter_items(storage: Storage, bench: BenchmarkSource) -> Iterator[str]:
    uri, name = bench.uri, bench.name
    if not storage.exists(uri):
        raise BenchmarkError(f"benchmark {name!r}: {uri} does not exist")
    lower = uri.lower()
    if lower.endswith(".parquet"):
        import pyarrow.parquet as pq

        with tempfile.TemporaryDirectory(prefix="maga-bench-") as tmp:
            local = Path(tmp) / "b.parquet"
            local.write_bytes(storage.read_bytes(uri))
            pf = pq.ParquetFile(local)
            names = pf.schema_arrow.names
            missing = sorted(set(bench.fields) - set(names))
            if missing:
                raise BenchmarkError(f"benchmark {name!r}: {uri} has no column(s) {missing}")
            for batch in pf.iter_batches(columns=bench.fields or None):
                for row in batch.to_pylist():
                    yield _item_text(row, bench.fields, uri)
        return
    data = storage.read_bytes(uri)
    if lower.endswith(".gz"):
        data = gzip.decompress(data)
    text = io.TextIOWrapper(io.BytesIO(data), encoding="utf-8", errors="strict")
    if lower.endswith((".jsonl", ".jsonl.gz", ".json")):
        for n, line in enumerate(text, 1):
            if not line.strip():
                continue
            try:
                record = json.loads(line)
            except json.JSONDecodeError as exc:
                raise BenchmarkError(f"benchmark {name!r}: {uri}:{n}: not JSON ({exc})") from None
            yield _item_text(record, bench.fields, f"{uri}:{n}")
    elif lower.endswith((".txt", ".txt.gz")):
        for line in text:
            if line.strip():
                yield line
    else:
        raise BenchmarkError(
            f"benchmark {name!r}: {uri}: unsupported file type (use .jsonl, .jsonl.gz, "
            ".parquet or .txt)"
        )


@dataclass(frozen=True)
class Hit:
    benchmark: str
    ngram: str

    def detail(self) -> str:
        return f"{self.benchmark}: {self.ngram!r}"


def artifact_uri(cache: str, bench: BenchmarkSource, n: int, storage: Storage) -> str:
    version = json.dumps([bench.uri, storage.etag(bench.uri), bench.fields, n])
    digest = hashlib.sha256(version.encode()).hexdigest()[:16]
    safe = "".join(c if c.isalnum() or c in "-_." else "-" for c in bench.name)
    return f"{cache.rstrip('/')}/{safe}-{digest}.npy"


def _benchmark_hashes(storage: Storage, bench: BenchmarkSource, n: int,
                      cache: str | None) -> tuple[int, np.ndarray]:  # fmt: skip
    """(items, sorted unique n-gram hashes) of one benchmark, from its artifact if built."""
    uri = artifact_uri(cache, bench, n, storage) if cache and storage.exists(bench.uri) else None
    if uri and storage.exists(uri):
        arr = np.load(io.BytesIO(storage.read_bytes(uri)))
        return int(arr[0]), arr[1:]
    hashes: set[int] = set()
    count = 0
    for item in iter_items(storage, bench):
        count += 1
        hashes.update(_hash(g) for g in ngrams(tokens(item), n))
    keys = np.sort(np.fromiter(hashes, dtype=np.int64, count=len(hashes)))
    if uri and len(keys):
        buf = io.BytesIO()
        np.save(buf, np.concatenate([np.array([count], np.int64), keys]))
        storage.write_bytes(uri, buf.getvalue())
    return count, keys


class Decontaminator:
    """The n-gram index over every listed benchmark."""

    def __init__(self, cfg: DecontamConfig, storage: Storage, cache: str | None = None):
        self.n = cfg.ngram
        self.names = [b.name for b in cfg.benchmarks]
        self.items: dict[str, int] = {}
        self.ngrams: dict[str, int] = {}
        keys: list[np.ndarray] = []
        owner: list[np.ndarray] = []
        for i, bench in enumerate(cfg.benchmarks):
            count, hashes = _benchmark_hashes(storage, bench, self.n, cache)
            if not len(hashes):
                raise BenchmarkError(
                    f"benchmark {bench.name!r}: {bench.uri} has no item of {self.n} or more words"
                )
            self.items[bench.name], self.ngrams[bench.name] = count, len(hashes)
            keys.append(hashes)
            owner.append(np.full(len(hashes), i, dtype=np.int32))
        all_keys = np.concatenate(keys) if keys else np.empty(0, np.int64)
        order = np.argsort(all_keys, kind="stable")
        self._keys = all_keys[order]
        self._owner = (np.concatenate(owner) if owner else np.empty(0, np.int32))[order]

    def __bool__(self) -> bool:
        return bool(self.names)

    def check(self, text: str) -> Hit | None:
        if not self.names:
            return None
        grams = ngrams(tokens(text), self.n)
        if not grams:
            return None
        hashes = np.fromiter((_hash(g) for g in grams), dtype=np.int64, count=len(grams))
        pos = np.searchsorted(self._keys, hashes)
        pos[pos >= len(self._keys)] = 0
        found = np.nonzero(self._keys[pos] == hashes)[0]
        if not len(found):
            return None
        first = int(found[0])
        return Hit(self.names[int(self._owner[pos[first]])], grams[first])
