"""The published near-duplicate index as band keys on storage (maga.hygiene.bandindex):
the same twins as the in-memory LSH, on local disk and S3; lookup memory that does not
grow with the index; a publish killed midway leaves nothing visible."""

import os
import signal
import subprocess
import sys
import textwrap
import tracemalloc
from pathlib import Path

import numpy as np
import pytest

from maga.config import NearDupConfig
from maga.hygiene.bandindex import committed, lsh_dir, publish_batch
from maga.hygiene.bandlookup import PublishedIndex
from maga.hygiene.neardup import NearDupIndex, signature, signature_row, signature_rows
from maga.storage import Storage, join_uri
from tests.hygiene.crafted import near_copy, wiki
from tests.test_storage import Backend, backend  # noqa: F401 - the fixture

pytestmark = pytest.mark.timeout(300)
CFG = NearDupConfig()


def _shard(storage: Storage, folder: str, key: str, texts: list[str], tmp: Path,
           sources: list[str] = ()) -> Path:  # fmt: skip
    """A shard's signature file at ``<folder>/<key>.parquet``; the local copy."""
    local = tmp / f"{key}-{len(list(tmp.iterdir()))}.parquet"
    rows = signature_rows(local)
    for i, t in enumerate(texts):
        rows.add(signature_row(f"{key}-{i}", "rewrite", key, signature(t, CFG)))
    for i, t in enumerate(sources):
        rows.add(signature_row(f"{key}-s{i}", "source", key, signature(t, CFG)))
    rows.close()
    storage.put_file(local, join_uri(folder, f"{key}.parquet"))
    return local


def test_same_twins_as_in_memory_lsh_local_and_s3(backend: Backend, tmp_path):  # noqa: F811
    storage, folder = backend.storage, backend.uri("dedup", "minhash-x")
    texts = wiki("en", 24)
    a = _shard(storage, folder, "a", texts[:12], tmp_path, sources=texts[20:22])
    b = _shard(storage, folder, "b", texts[12:20], tmp_path)
    assert publish_batch(storage, folder, CFG, "run1", [("a", a), ("b", b)], tmp_path)
    head = storage.read_bytes(join_uri(folder, "a.parquet"))[:12]
    assert storage.read_range(join_uri(folder, "a.parquet"), 4, 8) == head[4:12]
    assert not publish_batch(storage, folder, CFG, "run1", [("a", a), ("b", b)], tmp_path)
    assert [c["rows"] for c in committed(storage, lsh_dir(folder, CFG))] == [22]

    loaded = NearDupIndex(CFG)
    loaded.load(storage, folder)
    index = PublishedIndex(storage, folder, CFG, tmp=tmp_path)
    assert index.rows == 22
    probes = [near_copy(t) for t in texts] + wiki("en", 6, skip=30)
    got = [index.query(signature(p, CFG)) for p in probes]
    assert got == [loaded.query(signature(p, CFG)) for p in probes]
    want = [f"a-{i}" for i in range(12)] + [f"b-{i}" for i in range(8)]
    assert all(t is None or t.id == w for t, w in zip(got, want, strict=False))
    assert sum(t is not None for t in got[:20]) >= 16  # LSH misses a few, as datasketch
    assert got[20:] == [None] * 10
    assert index.query(signature(texts[20], CFG), "source").id == "a-s0"
    assert index.query(signature(texts[0], CFG), "source") is None  # kinds apart
    mine = PublishedIndex(storage, folder, CFG, exclude={"a"}, tmp=tmp_path)
    assert mine.query(signature(texts[3], CFG)) is None  # a shard is not its own twin
    assert mine.query(signature(texts[13], CFG)).id == "b-1"

    # shard a replaced by a later publish: its old refs are stale, never reported
    a2 = _shard(storage, folder, "a", [texts[22], texts[23]], tmp_path)
    assert publish_batch(storage, folder, CFG, "run2", [("a", a2)], tmp_path)
    index = PublishedIndex(storage, folder, CFG, tmp=tmp_path)
    assert index.query(signature(texts[1], CFG)) is None  # row 1 of a is now texts[23]
    assert index.query(signature(near_copy(texts[23]), CFG)).id == "a-1"
    assert index.query(signature(texts[13], CFG)).id == "b-1"


def _peak_lookup(folder: str, queries: np.ndarray, tmp: Path) -> tuple[int, int]:
    tracemalloc.start()
    index = PublishedIndex(Storage(), folder, CFG, tmp=tmp)
    found = sum(index.query(q) is not None for q in queries)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    return peak, found


def test_lookup_memory_does_not_grow_with_index_size(tmp_path):
    from maga.bench.dedup import queries, real_shard, synthetic_index

    peaks, found = {}, {}
    for rows in (1_000_000, 3_000_000):
        out = str(tmp_path / f"n{rows}")
        folder = synthetic_index(out, rows, CFG, seed=rows)
        sigs = real_shard(folder, "real", 200, CFG, seed=5)
        publish_batch(Storage(), folder, CFG, "real", [("real", Path(folder) / "real.parquet")],
                      tmp_path)  # fmt: skip
        assert PublishedIndex(Storage(), folder, CFG).rows == rows + 200
        peaks[rows], found[rows] = _peak_lookup(folder, queries(sigs, 6), tmp_path)
        Storage().delete_prefix(out)
    assert found[1_000_000] == found[3_000_000] >= 80  # of 100 near twins
    # the bound: 8 MiB whatever the index size (the 3M index's keys alone are 216 MB)
    assert max(peaks.values()) < 8 * 2**20, peaks
    assert peaks[3_000_000] < 1.25 * peaks[1_000_000] + 2**20, peaks


KILLED = textwrap.dedent("""
    import os, signal, sys
    from pathlib import Path
    import maga.storage.local as local
    from maga.config import NearDupConfig
    from maga.hygiene.bandindex import publish_batch
    from maga.storage import Storage

    folder, tmp, after = sys.argv[1], Path(sys.argv[2]), int(sys.argv[3])
    real_replace, seen = os.replace, []

    def replace(src, dst):  # the partition file is written, not yet renamed into place
        if str(dst).endswith(".keys"):
            seen.append(dst)
            if len(seen) == after:
                os.kill(os.getpid(), signal.SIGKILL)
        real_replace(src, dst)

    local.os.replace = replace
    shards = [(p.stem, p) for p in sorted(Path(folder).glob("*.parquet"))]
    publish_batch(Storage(), folder, NearDupConfig(), "run1", shards, tmp)
""")


def test_publish_killed_while_writing_the_index_then_rerun(tmp_path):
    storage, folder = Storage(), str(tmp_path / "dedup" / "minhash-x")
    texts = wiki("en", 10)
    a = _shard(storage, folder, "a", texts[:5], tmp_path)
    b = _shard(storage, folder, "b", texts[5:], tmp_path)
    work = tmp_path / "work"
    work.mkdir()
    env = {**os.environ, "PYTHONPATH": os.getcwd()}
    proc = subprocess.run([sys.executable, "-c", KILLED, folder, str(work), "5"], env=env,
                          capture_output=True, text=True, timeout=120)  # fmt: skip
    assert proc.returncode == -signal.SIGKILL, proc.stderr
    root = lsh_dir(folder, CFG)
    half = list(Path(root).rglob(".*.tmp"))
    assert len(half) == 1  # killed with a partition file written but not in place
    assert not [o for o in storage.list(root) if ".tmp" in o.uri]
    assert len(storage.list(root, (".keys",))) == 4  # complete files, but not committed:
    assert committed(storage, root) == []
    index = PublishedIndex(storage, folder, CFG, tmp=tmp_path)
    assert index.rows == 0 and index.query(signature(texts[2], CFG)) is None

    assert publish_batch(storage, folder, CFG, "run1", [("a", a), ("b", b)], work)
    index = PublishedIndex(storage, folder, CFG, tmp=tmp_path)
    assert index.rows == 10 and index.query(signature(near_copy(texts[2]), CFG)).id == "a-2"
    # exactly once: each row has one ref per band, not two
    cands = index.candidates(signature(texts[7], CFG), "rewrite")
    assert sorted(c[:3] for c in cands) == [("b", 2, band) for band in range(9)]


def test_benchmark_ngrams_built_once_per_version_then_read(tmp_path, monkeypatch):
    import maga.hygiene.decontam as decontam
    from maga.config import BenchmarkSource, DecontamConfig
    from tests.hygiene.crafted import benchmark_file
    from tests.hygiene.test_neardup_decontam import QUESTION

    storage, cache = Storage(), str(tmp_path / "dedup" / "decontam")
    path = benchmark_file(tmp_path, [QUESTION])
    cfg = DecontamConfig(benchmarks=[BenchmarkSource(name="qa", uri=str(path),
                                                     fields=["question"])])  # fmt: skip
    built = decontam.Decontaminator(cfg, storage, cache)
    (artifact,) = storage.list(cache, (".npy",))
    assert artifact.size == 128 + 8 * (1 + built.ngrams["qa"])  # npy header, count, hashes

    def raw_read(*_):
        raise AssertionError("the raw benchmark file was read again")

    monkeypatch.setattr(decontam, "iter_items", raw_read)
    again = decontam.Decontaminator(cfg, storage, cache)
    assert (again.items, again.ngrams) == (built.items, built.ngrams)
    assert again.check("so: " + QUESTION).benchmark == "qa"
    monkeypatch.undo()
    benchmark_file(tmp_path, [QUESTION, QUESTION.replace("river", "road")])  # a new version
    newer = decontam.Decontaminator(cfg, storage, cache)
    assert newer.items == {"qa": 2} and len(storage.list(cache, (".npy",))) == 2


def test_bench_dedup_prints_ratios_to_the_smallest_index(tmp_path):
    from maga.bench.dedup import render, run

    res = run([20_000, 40_000], 40, 1, str(tmp_path))
    table = render(res, "test machine")
    rows = [line for line in table.splitlines() if line.startswith("| 20,000") or
            line.startswith("| 40,000")]  # fmt: skip
    assert len(rows) == 2 and "| 1.00 |" in rows[0]
    assert "100,000,000 rows: not measured" in table and "extrapolated" in table
    small, big = res["sizes"][20_000], res["sizes"][40_000]
    assert small["lookup"]["found"] == big["lookup"]["found"] >= 15  # of 20 near twins
    assert 100e6 < small["bytes_per_million"] < 200e6  # 9 bands x 16 bytes + fences
