"""``maga bench-control-plane``: the refresh's bookkeeping at production shard counts,
by simulation (no model, no shard data).

A processed-shards manifest of ``--shards`` entries (each shaped like the publish
step's, stats included) is built under a scratch output folder on the local disk; then,
each in a fresh child process so its peak memory is its own:

* ``discover``: load the manifest and classify a listing of every shard plus
  ``--per-run`` new ones (what ``maga.refresh.discover.build_plan`` does after listing);
* ``publish``: merge ``--per-run`` entries (one run's worth of shards) into the
  manifest and write it (``update_manifest``), then rebuild the dataset card from it;
* ``export_mix``: the training-mix components read from the manifest;
* ``compact``: fold the deltas into ``manifest.json`` (every 16th publish does it).

Printed: seconds and peak resident MiB per operation, and the manifest's size on disk.
The source listing itself (S3 pages of 1,000 keys) and the shard tasks are not part of
it. :func:`render_sizing` then says how a corpus of ``--corpus-tokens`` maps onto shards,
runs and GPU workers at FinePhrase's, a default engine's and the target tokens/s.
"""

from __future__ import annotations

import json
import math
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from maga.log import get_logger

log = get_logger("bench.control_plane")
SOURCE = "s3://corpus/source"
OPS = ("discover", "publish", "export_mix", "compact")


def _uri(i: int) -> str:
    return f"{SOURCE}/part-{i:07d}.jsonl.gz"


def fake_entry(i: int) -> dict[str, Any]:
    """A published shard's manifest entry, sized like a real one."""
    key = f"part-{i:07d}-{i * 2654435761 % 2**32:08x}"
    out = "s3://corpus/maga"
    return {
        "etag": f"{i * 40503 % 2**31:032x}", "key": key, "status": "published",
        "output": f"{out}/data/{key}.parquet", "rejects": f"{out}/rejects/{key}.parquet",
        "output_mode": "documents", "generations": None,
        "source_rows": f"{out}/source/{key}.parquet", "rows": 9800 + i % 400, "reason": "",
        "run_id": f"scheduled__2026-11-{1 + i // 1024 % 28:02d}", "tool_model_version": 3,
        "prompt_variant": "base", "processed_at": "2026-11-25T04:00:00+00:00",
        "stats": {"records": 2000, "quarantine_reasons": {"empty_text": 3},
                  "languages": {"en": 1900, "fr": 97}, "docs": 1997, "docs_with_output": 1990,
                  "rewrites": 9985, "kept": 9800, "input_chars": 4_100_000,
                  "output_chars": 19_500_000, "dropped": {"near_duplicate": 120,
                                                          "length_ratio": 65},
                  "doc_rejects": {}, "score_histogram": {"3": 20, "4": 30, "5": 14},
                  "judged": 64, "low_scores": 0, "truncated_docs": 40, "split_docs": 0,
                  "output_rows": 9800, "output_tokens": 4_900_000, "source_tokens": 1_000_000,
                  "generation_tokens": 4_900_000, "expanded_tokens": 4_900_000,
                  "prompt_tokens": 9_000_000, "completion_tokens": 5_000_000},
    }  # fmt: skip


def build(output: str, shards: int) -> None:
    """A manifest of ``shards`` published entries, written through the public API."""
    from maga.refresh.manifest import compact_manifest, update_manifest
    from maga.storage import Storage

    entries = {_uri(i): fake_entry(i) for i in range(shards)}
    update_manifest(Storage(), output, entries, SOURCE)
    compact_manifest(Storage(), output)  # the state a long-running corpus settles in


def _op(name: str, output: str, shards: int, per_run: int) -> dict[str, Any]:
    from maga.refresh.manifest import classify, load_manifest, update_manifest
    from maga.storage import ObjectInfo, Storage

    storage = Storage()
    began = time.perf_counter()
    result: dict[str, Any] = {}
    if name == "discover":
        manifest = load_manifest(storage, output)
        listing = [ObjectInfo(_uri(i), 1 << 26, fake_entry(i)["etag"])
                   for i in range(shards + per_run)]  # fmt: skip
        got = classify(listing, manifest, 3, False)
        result["new"] = sum(c.status == "new" for c in got)
    elif name == "publish":
        from maga.config import load_config
        from maga.refresh.card import render_card

        new = {_uri(shards + i): fake_entry(shards + i) for i in range(per_run)}
        manifest = update_manifest(storage, output, new, SOURCE)
        t_card = time.perf_counter()
        render_card(manifest, load_config("tiny"), output)
        result["card_s"] = round(time.perf_counter() - t_card, 3)
        result["shards_after"] = len(manifest["shards"])
    elif name == "compact":
        from maga.refresh.manifest import compact_manifest

        result["shards"] = len(compact_manifest(storage, output)["shards"])
    elif name == "export_mix":
        from maga.mix.export import components

        comps, _ = components(load_manifest(storage, output))
        result["components"] = len(comps)
    else:
        raise ValueError(f"unknown control-plane operation {name!r}")
    result["seconds"] = round(time.perf_counter() - began, 3)
    result["peak_mib"] = peak_mib()
    return result


def peak_mib() -> int:
    """This process's peak resident memory since its exec (``VmHWM``; ``ru_maxrss``
    would carry over the peak of the process that forked it)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return round(int(line.split()[1]) / 1024)
    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)


def _baseline_mib() -> int:
    """Peak memory of a child that only imports what the operations import."""
    code = ("import maga.refresh.manifest, maga.refresh.card, maga.mix.export, maga.config; "
            "from maga.bench.control_plane import peak_mib; print(peak_mib())")  # fmt: skip
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return int(out.stdout.strip().splitlines()[-1])


def simulate(shards: int = 100_000, per_run: int = 1024) -> dict[str, Any]:
    if shards < 1 or per_run < 1:
        raise ValueError("control-plane bench: --shards and --per-run must be at least 1")
    with tempfile.TemporaryDirectory(prefix="maga-cp-") as tmp:
        output = str(Path(tmp) / "maga")
        t0 = time.perf_counter()
        subprocess.run([sys.executable, "-c", "import sys; from maga.bench.control_plane import "
                        f"build; build({output!r}, {shards})"], check=True)  # fmt: skip
        figures: dict[str, Any] = {"shards": shards, "per_run": per_run,
                                   "build_s": round(time.perf_counter() - t0, 2),
                                   "baseline_peak_mib": _baseline_mib()}  # fmt: skip
        figures["manifest_bytes"] = _size(output)
        for name in OPS:
            args = json.dumps({"op": name, "output": output, "shards": shards,
                               "per_run": per_run})  # fmt: skip
            out = subprocess.run([sys.executable, "-m", "maga.bench.control_plane", args],
                                 capture_output=True, text=True)  # fmt: skip
            if out.returncode != 0:
                raise RuntimeError(f"control-plane {name} failed:\n{out.stderr[-2000:]}")
            figures[name] = json.loads(out.stdout.strip().splitlines()[-1])
        figures["manifest_bytes_after"] = _size(output)
    return figures


def _size(output: str) -> int:
    return sum(p.stat().st_size for p in Path(output).rglob("*") if p.is_file())


def sizing(corpus_tokens: float, tokens_per_shard: float, tokens_per_s: float,
           expansion: float, max_map: int = 1024, workers: int = 1) -> dict[str, Any]:  # fmt: skip
    """How a corpus maps onto shards, runs of at most ``max_map`` mapped tasks, and
    worker time: ``tokens_per_s`` output tokens per second per engine (measured),
    ``expansion`` output tokens per source token."""
    shards = math.ceil(corpus_tokens / tokens_per_shard)
    output = corpus_tokens * expansion
    per_shard_s = tokens_per_shard * expansion / tokens_per_s
    engine_hours = output / tokens_per_s / 3600
    return {
        "corpus_tokens": corpus_tokens, "tokens_per_shard": tokens_per_shard, "shards": shards,
        "runs": math.ceil(shards / max_map), "output_tokens": output,
        "hours_per_shard_task": round(per_shard_s / 3600, 3),
        "engine_hours": round(engine_hours), "workers": workers,
        "wall_days": round(engine_hours / workers / 24, 1),
    }  # fmt: skip


def render(f: dict[str, Any]) -> str:
    lines = [f"control plane, {f['shards']:,} shards in the manifest, {f['per_run']} per run "
             f"(local disk; memory includes {f['baseline_peak_mib']} MiB of imports)",
             f"manifest on disk: {f['manifest_bytes'] / 2**20:.1f} MiB "
             f"(after one publish {f['manifest_bytes_after'] / 2**20:.1f} MiB); "
             f"building it took {f['build_s']} s",
             "| operation | seconds | peak MiB |", "|---|---:|---:|"]  # fmt: skip
    for name in OPS:
        r = f[name]
        extra = f" (card {r['card_s']} s)" if "card_s" in r else ""
        lines.append(f"| {name}{extra} | {r['seconds']} | {r['peak_mib']} |")
    return "\n".join(lines)


def render_sizing(corpus_tokens: float, tokens_per_shard: float, expansion: float,
                  workers: int, max_map: int = 1024) -> str:  # fmt: skip
    lines = [f"{corpus_tokens / 1e9:.0f}B source tokens in shards of {tokens_per_shard / 1e6:.0f}M, "
             f"{expansion:.2f} output tokens per source token, {workers} GPU workers, runs of "
             f"at most {max_map} mapped tasks:",
             "| output tok/s per GPU | shards | runs | hours per shard task | GPU-hours | "
             "GPU-h per 1B output | wall days |", "|---:|---:|---:|---:|---:|---:|---:|"]  # fmt: skip
    for label, tps in (("9,200 (FinePhrase)", 9200), ("15,000 (one default engine)", 15000),
                       ("40,000 (target)", 40000)):  # fmt: skip
        z = sizing(corpus_tokens, tokens_per_shard, tps, expansion, max_map, workers)
        per_b = z["engine_hours"] / (z["output_tokens"] / 1e9)
        lines.append(f"| {label} | {z['shards']:,} | {z['runs']} | {z['hours_per_shard_task']} "
                     f"| {z['engine_hours']:,} | {per_b:.1f} | {z['wall_days']} |")  # fmt: skip
    return "\n".join(lines)


if __name__ == "__main__":
    a = json.loads(sys.argv[1])
    print(json.dumps(_op(a["op"], a["output"], a["shards"], a["per_run"])))
    sys.stdout.flush()
    os._exit(0)
