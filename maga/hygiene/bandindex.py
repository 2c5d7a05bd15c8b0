"""The published near-duplicate index as LSH band keys on storage, read per row.

Why: loading every published signature into an in-memory LSH makes each clean task's
memory and time grow with the corpus. Here a lookup reads, for each of its ``b`` band
keys, one block of one sorted file per published batch, found by the file's fence
(``pread`` locally, a ranged GET on S3), so its memory hardly depends on the index size
(``make bench-dedup``, docs/near-dedup.md). Parquet with row-group statistics was
measured 50-400x slower per lookup: its footer, read whole, grows with the file.

Layout below :func:`lsh_dir`::

    <kind>/b<band>/p<prefix>/<batch>.keys   sorted uint64 keys, then uint64 refs
    <kind>/b<band>/p<prefix>/<batch>.fence  the key count, then every FENCE-th key (for ranged reads)
    commits/<batch>.json                    written last: shards (ref -> shard), rows

A band key is a 64-bit mix of the band's ``r`` MinHash values, the band and the kind;
its top ``PREFIX_BITS`` bits name the partition. A ref is ``ordinal << 32 | row``:
row ``row`` of the signature file of shard ``commits[batch].shards[ordinal]``. Files
of a batch not named in ``commits/`` are never read, so a publish killed midway
leaves nothing visible, and its rerun writes the same batch again. A ref whose shard
was replaced later is stale: the candidate's current signature is checked to have the
band key, and otherwise ignored.
"""

from __future__ import annotations

import functools
import hashlib
from collections.abc import Iterable
from pathlib import Path

import numpy as np
from datasketch import MinHashLSH

from maga.config import NearDupConfig
from maga.storage import Storage, join_uri

# Partitions per band and kind: 2**PREFIX_BITS. 0 (one sorted file per band and batch):
# 16 made a publish 6-17x slower (more files) and no lookup faster, as a lookup reads
# one block per key anyway (docs/near-dedup.md). Readers take the count from the commit.
PREFIX_BITS = 0
FENCE = 2048  # keys per block a lookup reads (16 KiB); the fence holds every FENCE-th
KINDS = ("rewrite", "source")
_M1, _M2 = np.uint64(0xBF58476D1CE4E5B9), np.uint64(0x94D049BB133111EB)


def bands(cfg: NearDupConfig) -> tuple[int, int]:
    """(b, r) as datasketch chooses them for the threshold (equal weights)."""
    return _bands(cfg.threshold, cfg.num_perm)


@functools.lru_cache(maxsize=16)
def _bands(threshold: float, num_perm: int) -> tuple[int, int]:
    lsh = MinHashLSH(threshold=threshold, num_perm=num_perm)  # an integral: ~20 ms
    return lsh.b, lsh.r


def lsh_dir(index_folder: str, cfg: NearDupConfig) -> str:
    """Beside the signature files' folder; the banding is part of the name."""
    b, r = bands(cfg)
    parent, name = index_folder.rstrip("/").rsplit("/", 1)
    return join_uri(parent, f"{name.replace('minhash-', 'lsh-', 1)}-b{b}r{r}")


def _mix(h: np.ndarray) -> np.ndarray:
    """splitmix64's finaliser, vectorised (wrapping uint64 arithmetic)."""
    with np.errstate(over="ignore"):
        h = (h ^ (h >> np.uint64(30))) * _M1
        h = (h ^ (h >> np.uint64(27))) * _M2
        return h ^ (h >> np.uint64(31))


def band_keys(sigs: np.ndarray, cfg: NearDupConfig, kind: str) -> np.ndarray:
    """(rows, b) uint64 band keys of (rows, num_perm) uint32 signatures."""
    b, r = bands(cfg)
    sigs = np.atleast_2d(sigs)
    x = sigs[:, : b * r].reshape(len(sigs), b, r).astype(np.uint64)
    base = np.arange(b, dtype=np.uint64) + np.uint64(1 + 1000 * KINDS.index(kind))
    h = np.broadcast_to(_mix(base), (len(sigs), b)).copy()
    for j in range(r):
        h = _mix(h ^ x[:, :, j])
    return h


def prefix_of(keys: np.ndarray, bits: int | None = None) -> np.ndarray:
    bits = PREFIX_BITS if bits is None else bits
    if not bits:
        return np.zeros(len(keys), np.int64)
    return (keys >> np.uint64(64 - bits)).astype(np.int64)


def part_uri(root: str, kind: str, band: int, prefix: int, batch: str) -> str:
    return join_uri(root, kind, f"b{band:02d}", f"p{prefix:02x}", f"{batch}.keys")


def batch_id(run_id: str, shards: Iterable[tuple[str, str]]) -> str:
    """Same run and same (shard key, signature etag) list: the same batch (idempotent)."""
    digest = hashlib.sha256(repr(sorted(shards)).encode()).hexdigest()[:12]
    safe = "".join(c if c.isalnum() or c in "-." else "-" for c in run_id)
    return f"{safe}-{digest}"


def write_partitions(storage: Storage, root: str, batch: str, kind: str, keys: np.ndarray,
                     refs: np.ndarray, tmp: Path, band0: int = 0) -> list[list[int]]:  # fmt: skip
    """Write one batch's (rows, bands) keys and their refs, sorted, one file per
    partition; column ``i`` is band ``band0 + i``. Rows per partition, [band][prefix]."""
    counts = []
    for col in range(keys.shape[1]):
        band, k = band0 + col, keys[:, col]
        order = np.argsort(k, kind="stable")
        k, rf = k[order], refs[order].astype(np.uint64)
        bounds = np.searchsorted(prefix_of(k), np.arange((1 << PREFIX_BITS) + 1))
        counts.append(np.diff(bounds).tolist())
        for p in range(1 << PREFIX_BITS):
            lo, hi = bounds[p], bounds[p + 1]
            local = tmp / f"{kind}-{band}-{p}.keys"
            with open(local, "wb") as fh:
                for part in (k[lo:hi], rf[lo:hi], k[lo:hi:FENCE]):
                    fh.write(part.tobytes())
            storage.put_file(local, part_uri(root, kind, band, p, batch))
    return counts


def commit(storage: Storage, root: str, batch: str, shards: list[str], rows: int,
           counts: dict[str, list[list[int]]]) -> None:  # fmt: skip
    """Makes the batch visible: one atomic write, after all of its partition files."""
    storage.write_json(join_uri(root, "commits", f"{batch}.json"),
                       {"batch": batch, "shards": shards, "rows": rows, "counts": counts})  # fmt: skip


def committed(storage: Storage, root: str) -> list[dict]:
    return [storage.read_json(o.uri) for o in storage.list(join_uri(root, "commits"), (".json",))]


def publish_batch(storage: Storage, index_folder: str, cfg: NearDupConfig, batch: str,
                  shards: list[tuple[str, Path]], tmp: Path) -> bool:  # fmt: skip
    """Band keys of the shards' signature files (``(key, local path)``, as copied to
    ``<index_folder>/<key>.parquet``) as one batch; False when it was committed before."""
    import pyarrow.parquet as pq

    root = lsh_dir(index_folder, cfg)
    if storage.exists(join_uri(root, "commits", f"{batch}.json")):
        return False
    per_kind: dict[str, tuple[list, list]] = {k: ([], []) for k in KINDS}
    rows = 0
    for ordinal, (_, path) in enumerate(shards):
        t = pq.read_table(path, columns=["kind", "signature"])
        if not len(t):
            continue
        sigs = np.frombuffer(b"".join(t["signature"].to_pylist()), np.uint32)
        sigs = sigs.reshape(len(t), cfg.num_perm)
        kinds = np.array(t["kind"].to_pylist())
        for kind in KINDS:
            idx = np.flatnonzero(kinds == kind)
            per_kind[kind][0].append(band_keys(sigs[idx], cfg, kind))
            per_kind[kind][1].append((np.uint64(ordinal) << np.uint64(32)) | idx.astype(np.uint64))
        rows += len(t)
    counts = {}
    for kind, (keys, refs) in per_kind.items():
        k = np.concatenate(keys) if keys else np.zeros((0, 1), np.uint64)
        if len(k):  # a kind without rows (sources unless include_sources) writes nothing
            counts[kind] = write_partitions(storage, root, batch, kind, k, np.concatenate(refs),
                                            tmp)  # fmt: skip
    commit(storage, root, batch, [key for key, _ in shards], rows, counts)
    return True
