"""Step 5: validate one shard's cleaned output and gate it.

* A great-expectations row suite on up to ``refresh.validate_max_rows`` output rows
  (required columns present, ids unique, the run's prompt variant and tool-model
  version, minimum length), plus id uniqueness over ALL rows, counted while streaming.
* A judged sample: ``refresh.judge_sample`` kept generations (rewrites, or the
  rationales of ``stretch``), chosen by hash of their id (the same rows on every run),
  scored 1-5 for Limited Consistency by the teacher or the reformulation SLM. In the
  megadoc modes the sample comes from the shard's generations, not its megadocs. The sample's judgements are staged; thresholds are not.
* The gate: kept share, share of scores <= 2 (drift toward the paper's "Relaxed"
  collapse), unparsed judgements, expansion ratio.
"""

from __future__ import annotations

import hashlib
import heapq
import re
import tempfile
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow.parquet as pq

from maga.jsonl import iter_jsonl, write_jsonl
from maga.judging.judge import score_histogram
from maga.llm.jobs import EngineSession, open_session
from maga.llm.models import teacher_spec
from maga.log import get_logger
from maga.operations import JUDGE, JUDGE_RATIONALE
from maga.refresh.discover import read_plan
from maga.refresh.gates import gate_output, output_columns
from maga.refresh.layout import ShardPaths, shard_paths
from maga.refresh.reformulate import iter_units, model_specs
from maga.runs.context import RunContext
from maga.runs.stage import ShardStep, ShardWork, run_shard_step, save_staged, staged

log = get_logger("refresh.validate")
BATCH = 4096
SAMPLE_FIELDS = ("id", "source_id", "genre", "audience", "text")
STRETCH_FIELDS = ("passage_start", "anchor")


def _hash_key(row_id: str) -> bytes:
    return hashlib.sha256(row_id.encode()).digest()


def scan_output(path: Path, max_rows: int, sample: int,
                columns: list[str] | None = None) -> tuple[pd.DataFrame, dict, list]:  # fmt: skip
    """One streaming pass: the GE frame, id-uniqueness counts, the judge sample."""
    pf = pq.ParquetFile(path)
    names = set(pf.schema_arrow.names)
    fields = [f for f in (*SAMPLE_FIELDS, *STRETCH_FIELDS) if f in names]
    frame_cols = columns or ["id", *output_columns("documents"), "n_chars"]
    read = list(dict.fromkeys([*frame_cols, *fields]))
    frames, taken, rows, dups = [], 0, 0, 0
    seen: set[bytes] = set()
    heap: list[tuple[bytes, int, dict]] = []  # max-heap on the hash key (inverted bytes)
    for batch in pf.iter_batches(batch_size=BATCH, columns=read):
        if taken < max_rows:
            frame = batch.select(frame_cols).to_pandas()
            frames.append(frame.iloc[: max_rows - taken])
            taken += len(frames[-1])
        for row in batch.to_pylist():
            rows += 1
            digest = hashlib.blake2b(row["id"].encode(), digest_size=12).digest()
            dups += digest in seen
            seen.add(digest)
            if sample:
                inv = bytes(255 - b for b in _hash_key(row["id"]))
                item = (inv, rows, {k: row[k] for k in fields})
                if len(heap) < sample:
                    heapq.heappush(heap, item)
                elif inv > heap[0][0]:
                    heapq.heapreplace(heap, item)
    frame = (
        pd.concat(frames, ignore_index=True)
        if frames
        else pd.DataFrame({c: pd.Series(dtype=object) for c in frame_cols})
    )
    chosen = sorted((it for _, _, it in heap), key=lambda r: _hash_key(r["id"]))
    return frame, {"rows": rows, "duplicate_ids": dups}, chosen


class JudgeUnavailable(RuntimeError):
    """The judge's server stayed away through every retry; finished judgements are kept."""


_TRANSIENT = re.compile(r"^(timeout|connection error|http (429|5\d\d)) after \d+ retries")


def _transient(error: str | None) -> bool:
    """An error the HTTP backend gave up retrying (the server away or overloaded), as
    opposed to an answer that was wrong (counted as unparsed)."""
    return bool(error and _TRANSIENT.match(error))


def judge_sample(
    ctx: RunContext,
    paths: ShardPaths,
    n_chunks: int,
    items: list[dict],
    session: EngineSession,
) -> dict[str, Any]:
    """Score the sample (staged once per shard content and settings)."""
    cfg, storage = ctx.config, ctx.storage
    done = staged(storage, paths, "judge")
    if done is not None:
        return done
    stretch = cfg.refresh.output_mode == "stretch"
    unit_of = (
        (lambda rid: rid.rsplit("@", 1)[0]) if stretch else (lambda rid: rid.rsplit("#", 1)[0])
    )
    wanted = {unit_of(it["id"]) for it in items}
    sources: dict[str, str] = {}
    for k in range(n_chunks):
        for unit in iter_units(storage, paths, k, cfg):
            if unit["unit_id"] in wanted:
                sources[unit["unit_id"]] = unit["text"]
    op = JUDGE_RATIONALE if stretch else JUDGE
    if cfg.refresh.judge == "teacher":
        spec = teacher_spec(cfg)
        spec.label = "judge_teacher"
    else:
        spec = model_specs(ctx)["reformulation_slm"]
        spec.label = "judge_slm"
    partial_uri = paths.stage("judge", "partial.jsonl")
    kept = {j["id"]: j for j in (iter_jsonl(storage, partial_uri)
                                 if storage.exists(partial_uri) else [])}  # fmt: skip
    todo = [it for it in items if it["id"] not in kept]
    if kept:
        log.info("judge %s: %d judgements kept from an earlier attempt; sending %d",
                 paths.key, len(kept), len(todo))  # fmt: skip
    requests = [op.request(cfg, f"judge:{it['id']}", sources[unit_of(it["id"])], it) for it in todo]
    outcome = session.generate(spec, requests)
    unreachable = []
    for it, res in zip(todo, outcome.results, strict=True):
        if not res.ok and _transient(res.error):
            unreachable.append(res.error)
            continue
        kept[it["id"]] = {"id": it["id"], **op.row(res)}  # the teacher judge's fields
    if unreachable:  # keep what finished; the retry sends only the rest
        write_jsonl(storage, partial_uri, list(kept.values()))
        raise JudgeUnavailable(
            f"judge ({spec.label}, {spec.backend}) unreachable: {len(unreachable)} of "
            f"{len(items)} requests failed ({unreachable[0]}); {len(kept)} finished kept, "
            "a retry sends only the rest"
        )
    judged = [kept[it["id"]] for it in items]
    write_jsonl(storage, paths.stage("judge", "judged.jsonl"), judged)
    scored = [j for j in judged if j["score"] is not None]
    stats = {
        "judge": cfg.refresh.judge,
        "requested": len(judged),
        "judged": len(scored),
        "low_scores": sum(j["score"] <= 2 for j in scored),
        "histogram": score_histogram(judged),
        "usage": outcome.usage.as_dict(),
    }
    save_staged(storage, paths, "judge", stats)
    return stats


def validate_shard(
    ctx: RunContext, shard: dict[str, Any], session: EngineSession | None = None
) -> dict[str, Any]:
    return run_shard_step(ctx, shard, VALIDATE, shard_paths(ctx.config, shard), session)


def _validate(w: ShardWork) -> dict[str, Any]:
    ctx, shard, session, paths = w.ctx, w.shard, w.session, w.paths
    cfg, storage, r = ctx.config, ctx.storage, ctx.config.refresh
    clean, gate_in = w.inputs["clean"], w.inputs["gate"]
    version = int(read_plan(ctx)["tool_models"]["version"])
    mode = r.output_mode
    columns = ["id", *output_columns(mode), "n_chars"]
    with tempfile.TemporaryDirectory(prefix="maga-validate-") as tmp:
        local = storage.get_file(paths.stage("clean", "output.parquet"), Path(tmp) / "o.parquet")
        if mode == "documents":
            frame, counts, sample = scan_output(local, r.validate_max_rows, r.judge_sample, columns)
        else:  # judge the generations the megadocs are made of
            frame, counts, _ = scan_output(local, r.validate_max_rows, 0, columns)
            gens = storage.get_file(
                paths.stage("clean", "generations.parquet"), Path(tmp) / "g.parquet"
            )
            _, gen_counts, sample = scan_output(gens, 0, r.judge_sample, ["id"])
            counts["duplicate_ids"] += gen_counts["duplicate_ids"]
    judge: dict[str, Any] = {"requested": 0, "judged": 0, "low_scores": 0, "histogram": {}}
    if sample:
        own = session is None
        session = session or open_session(w.ctx.config.runner.deterministic)
        try:
            judge = judge_sample(ctx, paths, gate_in["chunks"], sample, session)
        finally:
            if own:
                session.close()
    totals = {
        "kept": clean.get("kept", 0),
        "generated": clean.get("rewrites", 0),
        "output_chars": clean.get("output_chars", 0),
        "input_chars": clean.get("input_chars", 0),
        "reformulated_chars": clean.get("reformulated_chars", 0),
        "judge_requested": judge["requested"],
        "judged": judge["judged"],
        "low_scores": judge["low_scores"],
        "duplicate_ids": counts["duplicate_ids"],
        "dropped": clean.get("dropped", {}),
        "changed": clean.get("changed", {}),
    }
    result = gate_output(
        frame,
        totals,
        r,
        shard["key"],
        paths.stage("clean", "output.parquet"),
        prompt_variant=cfg.generation.prompt_variant,
        tool_model_version=version,
        min_chars=r.clean.min_chars,
        output_mode=mode,
    )
    w.gate = result  # the runner writes, records and enforces it
    stats = {
        **totals,
        "rows": counts["rows"],
        "ge_rows_checked": len(frame),
        "score_histogram": judge["histogram"],
        "judge_usage": judge.get("usage", {}),
        "gate": {"passed": result.passed, "reason": result.reason},
    }
    log.info(
        "validate %s: %d rows, judged %d (histogram %s) -> %s",
        shard["key"],
        counts["rows"],
        judge["judged"],
        judge["histogram"],
        "passed" if result.passed else result.reason,
    )
    return stats


# Not staged: the output checks are cheap and re-run every time; the judged sample, the
# expensive part, is staged by judge_sample.
VALIDATE = ShardStep("validate", needs=("gate", "clean"), work=_validate, staged=False)
