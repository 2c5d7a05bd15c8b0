"""Near-duplicates across the whole published corpus: MinHash-LSH from ``datasketch``.

Why datasketch: it is the reference Python MinHash/LSH (banding chosen from the
threshold to balance false positives and negatives), it answers one query at a time
against an in-memory index, which is what an incremental refresh needs, and it has no
runtime beyond numpy/scipy. datatrove's MinHash is a four-stage batch job over a whole
dataset (signatures, buckets, clusters, filter) written for one-off dedup, not for
checking new rows against an index that grows every run.

A text's signature is over its word ``shingle_words``-grams (:mod:`.text` tokens).
LSH candidates are confirmed by the signatures' estimated Jaccard similarity, so a
duplicate is reported with the twin's id and its similarity.

The persistent index lives in the output location (see :func:`index_dir`): one Parquet
file of signatures per published shard, ``<key>.parquet``, replaced with the shard, and
beside it their LSH band keys (:mod:`.bandindex`), which a clean task reads per query
(:mod:`.bandlookup`) instead of loading the index. Only the publish task writes both
(the manifest's single writer); shard tasks read them. The folder names carry the
MinHash parameters, so changing them starts a new index. :meth:`NearDupIndex.load`
(everything into memory) is kept for small indexes and tests.
"""

from __future__ import annotations

import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
from datasketch import LeanMinHash, MinHash, MinHashLSH

from maga.config import NearDupConfig
from maga.storage import Storage, join_uri
from maga.storage.parquet import ParquetRows
from maga.text import ngrams, tokens

SIGNATURE_SCHEMA = pa.schema([("id", pa.string()), ("kind", pa.string()),
                              ("shard", pa.string()), ("signature", pa.binary())])  # fmt: skip
KINDS = ("rewrite", "source")
SCHEME, DTYPE = "affine32", np.uint32  # datasketch's hashing scheme and its value type


def index_dir(output: str, cfg: NearDupConfig) -> str:
    return join_uri(
        output, "dedup", f"minhash-{SCHEME}-p{cfg.num_perm}-s{cfg.seed}-w{cfg.shingle_words}"
    )


def signature(text: str, cfg: NearDupConfig) -> np.ndarray | None:
    """MinHash values of the text's shingles; None for a text without words."""
    toks = tokens(text)
    if not toks:
        return None
    grams = ngrams(toks, cfg.shingle_words) or [" ".join(toks)]
    m = MinHash(num_perm=cfg.num_perm, seed=cfg.seed, scheme=SCHEME)
    m.update_batch([g.encode() for g in set(grams)])
    return m.hashvalues.astype(DTYPE)


@dataclass(frozen=True)
class Twin:
    id: str
    shard: str
    similarity: float

    def detail(self, own_shard: str) -> str:
        where = "this shard" if self.shard == own_shard else f"shard {self.shard}"
        return f"near {self.id} ({where}, Jaccard ~{self.similarity:.2f})"


class NearDupIndex:
    """One LSH per kind (rewrites, sources); ``query`` then ``add``."""

    def __init__(self, cfg: NearDupConfig):
        self.cfg = cfg
        self._lsh = {k: MinHashLSH(threshold=cfg.threshold, num_perm=cfg.num_perm) for k in KINDS}
        self._sigs: dict[str, dict[str, tuple[np.ndarray, str]]] = {k: {} for k in KINDS}
        # the published corpus, read per query (bandlookup.PublishedIndex); the rows
        # added here (this shard's, or this run's at publish) stay in memory
        self.published = None

    def __len__(self) -> int:
        return sum(len(v) for v in self._sigs.values())

    def _lean(self, sig: np.ndarray) -> LeanMinHash:
        return LeanMinHash(seed=self.cfg.seed, hashvalues=sig, scheme=SCHEME)

    def query(self, sig: np.ndarray, kind: str = "rewrite") -> Twin | None:
        best: Twin | None = None
        for key in self._lsh[kind].query(self._lean(sig)):
            other, shard = self._sigs[kind][key]
            sim = float(np.mean(other == sig))
            if sim >= self.cfg.threshold and (best is None or sim > best.similarity):
                best = Twin(key, shard, round(sim, 4))
        far = self.published.query(sig, kind) if self.published is not None else None
        if far is not None and (best is None or far.similarity > best.similarity):
            best = far
        return best

    def add(self, row_id: str, sig: np.ndarray, shard: str, kind: str = "rewrite") -> None:
        if row_id in self._sigs[kind]:
            return
        self._sigs[kind][row_id] = (sig, shard)
        self._lsh[kind].insert(row_id, self._lean(sig))

    def load(self, storage: Storage, folder: str, exclude: set[str] = frozenset()) -> int:
        """Add every published shard's signatures except those of ``exclude`` keys."""
        n = 0
        with tempfile.TemporaryDirectory(prefix="maga-minhash-") as tmp:
            for info in storage.list(folder, (".parquet",)):
                key = info.uri.rsplit("/", 1)[-1][: -len(".parquet")]
                if key in exclude:
                    continue
                local = storage.get_file(info.uri, Path(tmp) / f"{key}.parquet")
                n += self.load_file(local)
        return n

    def load_file(self, path: Path) -> int:
        table = pq.read_table(path)
        n = 0
        for row in table.to_pylist():
            sig = np.frombuffer(row["signature"], dtype=DTYPE)
            if len(sig) != self.cfg.num_perm:
                raise ValueError(f"{path}: signature of {len(sig)} values, expected "
                                 f"{self.cfg.num_perm}")  # fmt: skip
            self.add(row["id"], sig, row["shard"], row["kind"])
            n += 1
        return n


def signature_rows(path: Path) -> ParquetRows:
    return ParquetRows(path, SIGNATURE_SCHEMA)


def signature_row(row_id: str, kind: str, shard: str, sig: np.ndarray) -> dict:
    return {"id": row_id, "kind": kind, "shard": shard, "signature": sig.astype(DTYPE).tobytes()}
