"""The near-duplicate index's single writer: the publish task.

Shard tasks run concurrently, so each one checks its rewrites only against what was
published before it started (plus its own earlier rows) and stages the signatures of
what it kept. Publish, which already is the manifest's single writer, then:

1. :func:`dedup_across_shards`: walks this run's validated shards in URI order against
   the published index plus the shards before it, so twins *between* shards of the same
   run are caught too. In ``documents`` mode such a row is removed from the staged
   output, added to the rejects (``near_duplicate_corpus``, its kept twin named) and the
   shard's clean figures are amended; staged once (``dedup`` marker), so a retried publish
   does the same. In the megadoc modes a generation is part of an assembled megadoc;
   there the same-run twins are only logged, and the next run checks against them.
2. :func:`write_index`: copies each published shard's signatures to
   ``<output>/dedup/minhash-…/<key>.parquet``, then writes their LSH band keys as one
   batch committed last (:mod:`maga.hygiene.bandindex`), before the manifest names the
   shard, and removes the signatures of shards the input gate stopped (their band keys
   then point nowhere and are skipped).
"""

from __future__ import annotations

import tempfile
from collections import Counter
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from maga.hygiene.bandindex import batch_id, publish_batch
from maga.hygiene.bandlookup import PublishedIndex
from maga.hygiene.neardup import DTYPE, NearDupIndex, index_dir
from maga.hygiene.shard import SIGNATURES
from maga.log import get_logger
from maga.refresh.layout import ShardPaths, output_root, shard_paths
from maga.runs.context import RunContext
from maga.runs.stage import record_step, save_staged, shard_outcome, staged, step_record

log = get_logger("refresh.dedup")
REASON = "near_duplicate_corpus"


def _staged_sigs(ctx: RunContext, shard: dict) -> str | None:
    uri = shard_paths(ctx.config, shard).stage("clean", SIGNATURES)
    return uri if ctx.storage.exists(uri) else None


def dedup_across_shards(ctx: RunContext, plan: dict[str, Any]) -> dict[str, int]:
    """Rows removed per shard key as same-run twins of an earlier shard."""
    cfg, storage = ctx.config, ctx.storage
    h = cfg.refresh.hygiene.near_dup
    if not h.enabled or plan["dry_run"]:
        return {}
    ok = sorted((s for s in plan["shards"] if shard_outcome(ctx, s["key"])["status"] == "ok"),
                key=lambda s: s["uri"])  # fmt: skip
    todo = [s for s in ok if _staged_sigs(ctx, s)]
    if not todo:
        return {}
    removed: dict[str, int] = {}
    documents = cfg.refresh.output_mode == "documents"
    with tempfile.TemporaryDirectory(prefix="maga-dedup-") as tmp:
        index = NearDupIndex(h)  # this run's shards in memory, the published ones read
        index.published = PublishedIndex(storage, index_dir(output_root(cfg), h), h,
                                         {s["key"] for s in plan["shards"] if _staged_sigs(ctx, s)},
                                         Path(tmp))  # fmt: skip
        for s in todo:
            paths = shard_paths(cfg, s)
            local = storage.get_file(paths.stage("clean", SIGNATURES), Path(tmp) / "s.parquet")
            rows = pq.read_table(local).to_pylist()
            done = staged(storage, paths, "dedup")
            twins = {}
            for row in rows:
                sig = np.frombuffer(row["signature"], dtype=DTYPE)
                twin = index.query(sig, row["kind"]) if done is None else None
                if twin and row["kind"] == "rewrite" and twin.shard != s["key"]:
                    twins[row["id"]] = twin
                else:
                    index.add(row["id"], sig, s["key"], row["kind"])
            if done is None:
                if twins and documents:
                    _remove(ctx, s, paths, twins, local, Path(tmp))
                elif twins:
                    log.warning("%s: %d generations are near twins of another shard of this run "
                                "(megadoc mode: kept; the next run checks against them)",
                                s["key"], len(twins))  # fmt: skip
                done = {"removed": len(twins) if documents else 0, "found": len(twins)}
                save_staged(storage, paths, "dedup", done)
            removed[s["key"]] = done["removed"]
    if any(removed.values()):
        log.info("near-duplicates across this run's shards removed: %s", removed)
    return removed


def _remove(ctx: RunContext, shard: dict, paths: ShardPaths, twins: dict, sig_local: Path,
            tmp: Path) -> None:  # fmt: skip
    storage = ctx.storage
    ids = pa.array(sorted(twins))
    out_local = storage.get_file(paths.stage("clean", "output.parquet"), tmp / "o.parquet")
    table = pq.read_table(out_local)
    gone_mask = pc.is_in(table["id"], value_set=ids)
    gone = table.filter(gone_mask).to_pylist()
    pq.write_table(table.filter(pc.invert(gone_mask)), out_local, compression="zstd")
    storage.put_file(out_local, paths.stage("clean", "output.parquet"))
    # A source whose every rewrite was a twin gets no output: it is rejected as a
    # document (record-level, as clean does), and its source row is no longer expanded.
    kept_sources = set(table.filter(pc.invert(gone_mask))["source_id"].to_pylist())
    lost = Counter(g["source_id"] for g in gone if g["source_id"] not in kept_sources)
    src_local = storage.get_file(paths.stage("clean", "source.parquet"), tmp / "src.parquet")
    sources = pq.read_table(src_local)
    record_of = dict(zip(sources["id"].to_pylist(), sources["record"].to_pylist(), strict=True))
    lost_tokens = 0
    if lost:
        rows = sources.to_pylist()
        for row in rows:
            if row["id"] in lost and row["expanded"]:
                row["expanded"], lost_tokens = False, lost_tokens + row["n_tokens"]
        pq.write_table(pa.Table.from_pylist(rows, schema=sources.schema), src_local,
                       compression="zstd")  # fmt: skip
        storage.put_file(src_local, paths.stage("clean", "source.parquet"))
    rej_local = storage.get_file(paths.stage("clean", "rejects.parquet"), tmp / "r.parquet")
    rejects = pq.read_table(rej_local)
    extra = [{"source_shard": shard["uri"], "record": record_of.get(g["source_id"]),
              "source_id": g["source_id"], "rewrite_id": g["id"], "stage": "clean",
              "reason": REASON, "detail": twins[g["id"]].detail(shard["key"]),
              "genre": g.get("genre"), "audience": g.get("audience"),
              "text": g["text"][:1000]} for g in gone]  # fmt: skip
    extra += [{"source_shard": shard["uri"], "record": record_of.get(sid), "source_id": sid,
               "rewrite_id": None, "stage": "clean", "reason": "all_rewrites_dropped",
               "detail": f"{REASON}={n}", "genre": None, "audience": None, "text": None}
              for sid, n in sorted(lost.items())]  # fmt: skip
    merged = pa.concat_tables([rejects, pa.Table.from_pylist(extra, schema=rejects.schema)])
    pq.write_table(merged, rej_local, compression="zstd")
    storage.put_file(rej_local, paths.stage("clean", "rejects.parquet"))
    sigs = pq.read_table(sig_local)
    pq.write_table(sigs.filter(pc.invert(pc.is_in(sigs["id"], value_set=ids))), sig_local)
    storage.put_file(sig_local, paths.stage("clean", SIGNATURES))
    stats = staged(storage, paths, "clean")
    n, chars = len(gone), sum(g["n_chars"] for g in gone)
    tokens = sum(g["n_tokens"] for g in gone)
    for key, minus in (("kept", n), ("output_rows", n), ("output_chars", chars),
                       ("published_chars", chars), ("output_tokens", tokens),
                       ("generation_tokens", tokens)):  # fmt: skip
        stats[key] = stats.get(key, 0) - minus
    if lost:
        stats["docs_with_output"] = stats.get("docs_with_output", 0) - len(lost)
        stats["expanded_tokens"] = stats.get("expanded_tokens", 0) - lost_tokens
        doc_rejects = stats.get("doc_rejects", {})
        doc_rejects["all_rewrites_dropped"] = doc_rejects.get("all_rewrites_dropped", 0) + len(lost)
        stats["doc_rejects"] = dict(sorted(doc_rejects.items()))
    stats["dropped"] = dict(sorted({**stats["dropped"],
                                    REASON: stats["dropped"].get(REASON, 0) + n}.items()))  # fmt: skip
    examples = stats["drop_examples"].setdefault(REASON, [])
    for g in gone[: max(0, 3 - len(examples))]:
        examples.append({"id": g["id"], "detail": twins[g["id"]].detail(shard["key"]),
                         "text": g["text"][:300]})  # fmt: skip
    stats["kept_share"] = round(stats["kept"] / stats["rewrites"], 4) if stats["rewrites"] else 0.0
    if stats.get("input_chars"):
        stats["expansion_ratio"] = round(stats["output_chars"] / stats["input_chars"], 4)
    save_staged(storage, paths, "clean", stats)
    old = step_record(ctx, shard["key"], "clean") or {}
    record_step(ctx, shard["key"], "clean", "ok", stats, seconds=old.get("seconds"))


def write_index(ctx: RunContext, published: list[dict], stopped: list[dict]) -> None:
    cfg, storage = ctx.config, ctx.storage
    h = cfg.refresh.hygiene.near_dup
    folder = index_dir(output_root(cfg), h)
    with tempfile.TemporaryDirectory(prefix="maga-index-") as tmp:
        files = []
        for s in published:
            src = _staged_sigs(ctx, s)
            if src:
                storage.copy(src, f"{folder}/{s['key']}.parquet")
                files.append((s["key"], src))
        if files:  # then their band keys, committed last (see hygiene.bandindex)
            batch = batch_id(ctx.run_id, [(k, storage.etag(src)) for k, src in files])
            local = [(k, storage.get_file(src, Path(tmp) / f"{k}.parquet")) for k, src in files]
            publish_batch(storage, folder, h, batch, local, Path(tmp))
    for s in stopped:
        storage.delete(f"{folder}/{s['key']}.parquet")


def record_run_throughput(ctx: RunContext, plan: dict[str, Any], report: dict[str, Any]) -> None:
    """A real run's generation throughput and token calibration, for later cost plans."""
    from maga.refresh.costplan import record_throughput

    totals = report["totals"]
    if plan["dry_run"] or not totals.get("generate_seconds"):
        return
    compared = (report.get("cost_plan") or {}).get("compared") or {}
    model = plan["tool_models"].get("models", {}).get("reformulation_slm", "")
    record_throughput(ctx.storage, ctx.config, source=f"refresh {ctx.run_id}", model=str(model),
                      completion_tokens=int(totals.get("completion_tokens", 0)),
                      prompt_tokens=int(totals.get("prompt_tokens", 0)),
                      seconds=float(totals["generate_seconds"]),
                      calibration=compared.get("calibration"))  # fmt: skip
