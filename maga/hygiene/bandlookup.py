"""Per-row lookups in the published band-key index (:mod:`.bandindex`).

A query computes its ``b`` band keys, and for each committed batch reads only the
partition file its key falls in: the file's fence (loaded once) names the one block the
key can be in, read with ``pread`` (local) or a ranged GET (S3).
A candidate is confirmed with its current signature (one signature file per shard,
a few kept in memory), as in-memory LSH would: estimated Jaccard >= threshold.
"""

from __future__ import annotations

import os
import tempfile
from collections import OrderedDict
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq

from maga.config import NearDupConfig
from maga.hygiene.bandindex import FENCE, band_keys, committed, lsh_dir, part_uri, prefix_of
from maga.hygiene.neardup import Twin
from maga.storage import Storage, join_uri

KEEP_SHARDS = 8  # candidates' signature files kept in memory
_LOW = np.uint64(0xFFFFFFFF)


class _Part:
    """One sorted partition file of one batch, of ``n`` keys: ``find(key)`` -> refs.

    Only its fence is held (8 bytes per FENCE keys); a lookup reads the one block the
    key can be in (``pread`` of a local file, a ranged GET on S3), so neither the heap
    nor mapped pages grow with the file."""

    def __init__(self, storage: Storage, uri: str, n: int):
        self.storage, self.uri, self.n = storage, uri, n
        path = storage.local_path(uri)
        self.fd = os.open(path, os.O_RDONLY) if path is not None and n else None
        self.fence = np.frombuffer(self._read(16 * n, 8 * -(-n // FENCE)), np.uint64)

    def _read(self, start: int, length: int) -> bytes:
        if not length:
            return b""
        if self.fd is not None:
            return os.pread(self.fd, length, start)
        return self.storage.read_range(self.uri, start, length)

    def close(self) -> None:
        if self.fd is not None:
            os.close(self.fd)
            self.fd = None

    def find(self, key: np.uint64) -> list[int]:
        blk = max(int(np.searchsorted(self.fence, key)) - 1, 0)
        found: list[int] = []
        while blk * FENCE < self.n:
            lo, hi = blk * FENCE, min(self.n, (blk + 1) * FENCE)
            keys = np.frombuffer(self._read(lo * 8, (hi - lo) * 8), np.uint64)
            for i in np.flatnonzero(keys == key):
                ref = self._read((self.n + lo + int(i)) * 8, 8)
                found.append(int(np.frombuffer(ref, np.uint64)[0]))
            if keys[-1] > key:
                break
            blk += 1
        return found


class PublishedIndex:
    """The committed batches at construction time; ``query`` as ``NearDupIndex.query``."""

    def __init__(self, storage: Storage, index_folder: str, cfg: NearDupConfig,
                 exclude: set[str] | frozenset = frozenset(), tmp: Path | None = None):  # fmt: skip
        self.storage, self.cfg, self.folder = storage, cfg, index_folder
        self.root = lsh_dir(index_folder, cfg)
        self.exclude = set(exclude)
        self._tmpdir = None if tmp else tempfile.TemporaryDirectory(prefix="maga-lookup-")
        self.tmp = Path(tmp or self._tmpdir.name)  # downloads of candidates' files (S3)
        self.commits = committed(storage, self.root)
        self.rows = sum(int(c["rows"]) for c in self.commits)
        self._parts: dict[tuple, _Part] = {}
        self._shards: OrderedDict[str, tuple] = OrderedDict()

    def close(self) -> None:
        for part in self._parts.values():
            part.close()
        self._parts.clear()

    def __del__(self) -> None:
        self.close()

    def _part(self, kind: str, band: int, prefix: int, c: dict) -> _Part:
        k = (kind, band, prefix, c["batch"])
        if k not in self._parts:
            uri = part_uri(self.root, kind, band, prefix, c["batch"])
            self._parts[k] = _Part(self.storage, uri, int(c["counts"][kind][band][prefix]))
        return self._parts[k]

    def _signatures(self, shard: str) -> tuple | None:
        """(ids, kinds, signatures) of a shard's current file; None when it is gone."""
        if shard not in self._shards:
            uri, loaded = join_uri(self.folder, f"{shard}.parquet"), None
            if self.storage.exists(uri):  # else stopped since: its refs are stale
                local = self.storage.get_file(uri, self.tmp / f"sig-{shard}.parquet")
                t = pq.read_table(local, columns=["id", "kind", "signature"])
                sigs = np.frombuffer(b"".join(t["signature"].to_pylist()), np.uint32)
                loaded = (t["id"].to_pylist(), t["kind"].to_pylist(),
                          sigs.reshape(len(t), -1) if len(t) else sigs)  # fmt: skip
            self._shards[shard] = loaded
            if len(self._shards) > KEEP_SHARDS:
                self._shards.popitem(last=False)
        self._shards.move_to_end(shard)
        return self._shards[shard]

    def candidates(self, sig: np.ndarray, kind: str) -> set[tuple[str, int, int, int]]:
        """(shard, row, band, key) of committed refs sharing a band key with ``sig``."""
        out = set()
        for band, key in enumerate(band_keys(sig, self.cfg, kind)[0]):
            for c in self.commits:
                if kind not in c["counts"]:
                    continue
                bits = len(c["counts"][kind][band]).bit_length() - 1
                prefix = int(prefix_of(np.array([key]), bits)[0])
                for ref in self._part(kind, band, prefix, c).find(key):
                    shard = c["shards"][ref >> 32]
                    if shard not in self.exclude:
                        out.add((shard, ref & 0xFFFFFFFF, band, int(key)))
        return out

    def query(self, sig: np.ndarray, kind: str = "rewrite") -> Twin | None:
        best = None
        for shard, row, band, key in sorted(self.candidates(sig, kind)):
            loaded = self._signatures(shard)
            if loaded is None or row >= len(loaded[0]) or loaded[1][row] != kind:
                continue
            other = loaded[2][row]
            if int(band_keys(other, self.cfg, kind)[0, band]) != key:
                continue  # the shard was replaced since this batch: a stale ref
            sim = float(np.mean(other == sig))
            if sim >= self.cfg.threshold and (best is None or sim > best.similarity):
                best = Twin(loaded[0][row], shard, round(sim, 4))
        return best
