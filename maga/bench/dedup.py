"""``maga bench-dedup``: the published near-duplicate index at 1M, 10M, … signatures.

Per index size, in one run: a synthetic index of that many rows is written as one
publish batch (band keys of random signatures are uniform 64-bit values, so they are
drawn directly; they point at no signature file), plus one real shard of
``--shard-rows`` signatures. Then, each in a fresh child process so its peak memory is
its own, ``--repeats`` times:

* ``lookup``: one shard task's queries, ``--shard-rows`` signatures (half near twins
  of the real shard's rows, half new), against the index (:mod:`maga.hygiene.bandlookup`);
* ``publish``: one shard of ``--shard-rows`` signatures written as a new batch
  (:func:`maga.hygiene.bandindex.publish_batch`).

Printed: seconds and peak RSS per operation (median), the Python heap peak (one more
run under tracemalloc), the index's bytes per million rows, each also as a ratio to
the smallest size.
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

from maga.config import NearDupConfig
from maga.hygiene.bandindex import KINDS, bands, commit, lsh_dir, publish_batch, write_partitions
from maga.hygiene.neardup import index_dir, signature_row, signature_rows
from maga.storage import Storage

CHUNK = 2_000_000  # rows per band pass when writing the synthetic batch


def synthetic_index(output: str, rows: int, cfg: NearDupConfig, seed: int = 0) -> str:
    """A committed batch of ``rows`` synthetic rows under ``output``; the index folder."""
    storage, folder = Storage(), index_dir(output, cfg)
    root, (b, _) = lsh_dir(folder, cfg), bands(cfg)
    rng = np.random.default_rng(seed)
    with tempfile.TemporaryDirectory(prefix="maga-synth-") as tmp:
        counts = []
        for band in range(b):
            keys = rng.integers(0, 2**64 - 1, rows, dtype=np.uint64, endpoint=True)
            refs = np.arange(rows, dtype=np.uint64)  # shard 0, which has no signature file
            counts += write_partitions(storage, root, f"synthetic-{rows}", KINDS[0],
                                       keys[:, None], refs, Path(tmp), band0=band)  # fmt: skip
    commit(storage, root, f"synthetic-{rows}", [f"synthetic-{rows}"], rows, {KINDS[0]: counts})
    return folder


def real_shard(folder: str, key: str, rows: int, cfg: NearDupConfig, seed: int) -> np.ndarray:
    """``rows`` random signatures written as shard ``key``'s signature file."""
    sigs = np.random.default_rng(seed).integers(0, 2**32 - 1, (rows, cfg.num_perm), np.uint32)
    Path(folder).mkdir(parents=True, exist_ok=True)
    out = signature_rows(Path(folder) / f"{key}.parquet")
    for i, s in enumerate(sigs):
        out.add(signature_row(f"{key}-{i}", "rewrite", key, s))
    out.close()
    return sigs


def queries(sigs: np.ndarray, seed: int) -> np.ndarray:
    """Half near twins (a tenth of their values changed), half new signatures."""
    rng = np.random.default_rng(seed)
    twins = sigs[: len(sigs) // 2].copy()
    mask = rng.random(twins.shape) < 0.1
    twins[mask] = rng.integers(0, 2**32 - 1, int(mask.sum()), np.uint32)
    new = rng.integers(0, 2**32 - 1, (len(sigs) - len(twins), sigs.shape[1]), np.uint32)
    return np.concatenate([twins, new])


def _child(op: str, folder: str, rows: int, seed: int, traced: bool) -> dict[str, Any]:
    """One measured operation in this (fresh) process; ``traced``: its Python heap peak
    (tracemalloc, which slows it down: its seconds are not reported)."""
    import tracemalloc

    from maga.hygiene.bandlookup import PublishedIndex

    cfg = NearDupConfig()
    sigs = np.random.default_rng(seed).integers(0, 2**32 - 1, (rows, cfg.num_perm), np.uint32)
    q = queries(sigs, seed + 1)
    with tempfile.TemporaryDirectory(prefix="maga-bench-") as tmp:
        if traced:
            tracemalloc.start()
        t0 = time.perf_counter()
        found = 0
        if op == "lookup":
            index = PublishedIndex(Storage(), folder, cfg, tmp=Path(tmp))
            found = sum(index.query(s) is not None for s in q)
        else:
            key = f"pub-{seed}"
            real_shard(folder, key, rows, cfg, seed + 2)
            publish_batch(Storage(), folder, cfg, f"bench-{seed}-{time.time_ns()}",
                          [(key, Path(folder) / f"{key}.parquet")], Path(tmp))  # fmt: skip
        seconds = time.perf_counter() - t0
        heap = tracemalloc.get_traced_memory()[1]
    # VmHWM: this process's own peak (ru_maxrss keeps the parent's from before exec)
    hwm = [x for x in Path("/proc/self/status").read_text().splitlines() if x.startswith("VmHWM")]
    rss = int(hwm[0].split()[1]) * 1024
    return {"seconds": seconds, "heap_mib": heap / 2**20, "rss_mib": rss / 2**20, "found": found}


def _measure(op: str, folder: str, rows: int, seed: int, traced: bool) -> dict[str, Any]:
    code = (f"import json; from maga.bench.dedup import _child; "
            f"print(json.dumps(_child({op!r}, {folder!r}, {rows}, {seed}, {traced})))")  # fmt: skip
    out = subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, text=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def _bytes(root: str) -> int:
    return sum(p.stat().st_size for p in Path(root).rglob("*") if p.is_file())


def run(sizes: list[int], shard_rows: int, repeats: int, scratch: str | None = None) -> dict:
    """The figures per size (medians over ``repeats``)."""
    cfg, result = NearDupConfig(), {"shard_rows": shard_rows, "repeats": repeats, "sizes": {}}
    result["load_before"] = round(os.getloadavg()[0], 1)
    with tempfile.TemporaryDirectory(prefix="maga-bench-dedup-", dir=scratch) as tmp:
        for n in sizes:
            out = os.path.join(tmp, f"n{n}")
            t0 = time.perf_counter()
            folder = synthetic_index(out, n, cfg, seed=n)
            build = time.perf_counter() - t0
            size = _bytes(lsh_dir(folder, cfg))
            real_shard(folder, "synthetic-real", shard_rows, cfg, seed=7)  # the twins' rows
            publish_batch(Storage(), folder, cfg, "real",
                          [("synthetic-real", Path(folder) / "synthetic-real.parquet")],
                          Path(tmp))  # fmt: skip
            fig: dict[str, Any] = {"build_s": build, "bytes_per_million": size / n * 1e6}
            for op in ("lookup", "publish"):
                runs = [_measure(op, folder, shard_rows, 7 if op == "lookup" else 100 + i, False)
                        for i in range(repeats)]  # fmt: skip
                fig[op] = {k: statistics.median(r[k] for r in runs) for k in runs[0]}
                fig[op]["all_seconds"] = [round(r["seconds"], 4) for r in runs]
                traced = _measure(op, folder, shard_rows, 7 if op == "lookup" else 99, True)
                fig[op]["heap_mib"] = traced["heap_mib"]
            result["sizes"][n] = fig
            Storage().delete_prefix(out)
    result["load_after"] = round(os.getloadavg()[0], 1)
    return result


def render(res: dict, machine: str) -> str:
    sizes = sorted(res["sizes"])
    base = res["sizes"][sizes[0]]
    lines = [f"near-dup index, per shard of {res['shard_rows']} rows; median of "
             f"{res['repeats']} fresh processes each; {machine}; load average "
             f"{res.get('load_before')} before, {res.get('load_after')} after",
             "| index rows | lookup s | x | lookup heap MiB | x | lookup RSS MiB | x | twins found"
             " | publish s/shard | x | index MB per 1M rows | x |",
             "|" + "---|" * 13]  # fmt: skip
    for n in sizes:
        f = res["sizes"][n]
        lk, pb = f["lookup"], f["publish"]
        lines.append(
            f"| {n:,} | {lk['seconds']:.3f} | {lk['seconds'] / base['lookup']['seconds']:.2f} "
            f"| {lk['heap_mib']:.1f} | {lk['heap_mib'] / base['lookup']['heap_mib']:.2f} "
            f"| {lk['rss_mib']:.0f} | {lk['rss_mib'] / base['lookup']['rss_mib']:.2f} "
            f"| {lk['found']:.0f} | {pb['seconds']:.3f} "
            f"| {pb['seconds'] / base['publish']['seconds']:.2f} "
            f"| {f['bytes_per_million'] / 1e6:.1f} "
            f"| {f['bytes_per_million'] / base['bytes_per_million']:.2f} |"
        )
    big = sizes[-1]
    if big < 100_000_000:
        mb = res["sizes"][big]["bytes_per_million"] * 100 / 1e6
        lines.append(f"100,000,000 rows: not measured (disk and time); extrapolated from "
                     f"{big:,}: {mb / 1000:.1f} GB of band keys, lookup as at {big:,} (it "
                     f"reads one block per band key, whatever the index size)")  # fmt: skip
    return "\n".join(lines)


def main(sizes: list[int], shard_rows: int, repeats: int, scratch: str | None,
         out: str | None) -> None:  # fmt: skip
    res = run(sizes, shard_rows, repeats, scratch)
    print(render(res, _machine()))
    if out:
        Path(out).write_text(json.dumps(res, indent=2))


def _machine() -> str:
    model = next((line.split(":", 1)[1].strip() for line in
                  Path("/proc/cpuinfo").read_text().splitlines()
                  if line.startswith("model name")), "unknown CPU")  # fmt: skip
    mem = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    return f"{model}, {os.cpu_count()} CPUs, {mem:.0f} GiB, index on local disk"
