"""Step 4: clean one shard's rewrites; every drop is counted by reason.

Two passes over the generated chunks. The first learns from the outputs themselves:
first and last lines whose leading words repeat across the outputs of many source
documents (generation boilerplate such as "Sure! Here is the rewrite:" or "I hope this
helps!"), and word shingles that recur across many source documents (template text),
counted in a fixed-size sketch. The second pass, per source document's group of
rewrites: strips boilerplate edge lines, then drops empty outputs, outputs outside the
length bounds (absolute and relative to the source text as prompted), outputs with low
keyword coverage of the source, and exact or near duplicates within the group; then the
corpus hygiene steps of :mod:`maga.hygiene.shard` (language, benchmark contamination,
PII placeholders, near-duplicates across the published corpus). Near
duplicates are judged on shingles that are *not* template text, so rewrites that only
share a template are never merged. A sample of each drop reason is kept for the report.

In ``stretch`` mode the generations are rationales, cleaned by :func:`clean_inserts`
(boilerplate, empty, too short, exact repeats); length and keyword-coverage checks
against the whole source do not apply to them.

Writes to staging: ``output.parquet`` (the published rows in the run's output mode, see
:mod:`maga.megadocs.assemble`), ``generations.parquet`` (the kept generations, for the
megadoc modes and the judge), ``source.parquet`` (the accepted source documents, the real
side of a training mix) and ``rejects.parquet`` (quarantined input records, documents
without any output, dropped generations).

A change to a rule here that changes the output: bump its entry in
``maga.refresh.layout.RULES_VERSIONS`` (the shard fingerprint) so published shards are redone.
"""

from __future__ import annotations

import tempfile
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pyarrow as pa

from maga.config import RefreshCleanConfig, StretchConfig
from maga.hygiene.shard import ShardHygiene
from maga.jsonl import iter_jsonl
from maga.log import get_logger
from maga.megadocs.assemble import GENERATION_SCHEMA, OUTPUT_SCHEMA, SOURCE_SCHEMA, Assembler
from maga.operations.base import GENERATION_ERROR
from maga.operations.ga import ga_reject
from maga.operations.rewrite import REWRITE
from maga.refresh.discover import read_plan
from maga.refresh.layout import ShardPaths, output_root, shard_paths
from maga.refresh.reformulate import iter_units
from maga.refresh.textstats import (
    CountMinSketch,
    jaccard,
    shingles,
    text_hash,
)
from maga.refresh.toolmodels import counter_for
from maga.runs.context import RunContext
from maga.runs.stage import ShardStep, ShardWork, run_shard_step
from maga.storage.parquet import ParquetRows
from maga.text import EdgeLearner, keyword_coverage, keywords, length_ratio
from maga.text import strip_boilerplate as strip_edges

log = get_logger("refresh.clean")
S = pa.string()
REJECT_SCHEMA = pa.schema([
    ("source_shard", S), ("record", pa.int64()), ("source_id", S), ("rewrite_id", S),
    ("stage", S), ("reason", S), ("detail", S), ("genre", S), ("audience", S), ("text", S),
])  # fmt: skip
MIN_CONTENT_SHINGLES = 3
REJECT_TEXT_CHARS = 1000


@dataclass
class Learned:
    """What pass 1 learned from the shard's outputs."""

    first: dict[str, int]
    last: dict[str, int]
    sketch: CountMinSketch
    docs: int
    threshold: int


def learn(groups: Any, cfg: RefreshCleanConfig) -> Learned:
    """``groups``: iterable of lists of rewrite texts, one list per source document."""
    edges = EdgeLearner(cfg.boilerplate_key_words, cfg.boilerplate_min_docs,
                        cfg.boilerplate_min_share)  # fmt: skip
    sketch = CountMinSketch()
    for texts in groups:
        edges.add(texts)
        sh: set[int] = set()
        for text in texts:
            sh |= shingles(text, cfg.shingle_words)
        sketch.add(sh)
    first, last = edges.learned()
    return Learned(first, last, sketch, edges.docs, edges.threshold)


def strip_boilerplate(text: str, learned: Learned, key_words: int) -> tuple[str, int]:
    """Remove boilerplate first/last lines (:func:`maga.text.boilerplate_edges`: learned
    from this shard's outputs, or known phrasings), keeping at least one line."""
    return strip_edges(text, learned.first, learned.last, key_words)


@dataclass
class GroupResult:
    kept: list[dict[str, Any]] = field(default_factory=list)
    dropped: list[tuple[dict[str, Any], str, str]] = field(default_factory=list)
    lines_stripped: int = 0
    rewrites_stripped: int = 0


def clean_group(
    rows: list[dict[str, Any]], sources: dict[str, str], learned: Learned, cfg: RefreshCleanConfig
) -> GroupResult:
    """Clean the rewrites of ONE source document (``sources``: unit id -> prompted text)."""
    out = GroupResult()
    seen_hashes: dict[bytes, str] = {}
    kept_shingles: list[tuple[str, set[int]]] = []
    kw_cache: dict[str, list[str]] = {}
    for row in rows:
        if row.get("error"):
            out.dropped.append((row, GENERATION_ERROR, str(row["error"])))
            continue
        text, n = strip_boilerplate(row["text"], learned, cfg.boilerplate_key_words)
        # the rewrite operation's own rules (empty, thinking), on the text left over
        if (reject := REWRITE.parse(text).reject) is not None:
            out.dropped.append((row, reject, row["text"][:80]))
            continue
        out.lines_stripped += n
        out.rewrites_stripped += n > 0
        source = sources[row["unit_id"]]
        ratio = length_ratio(source, text)
        kws = kw_cache.setdefault(row["unit_id"], keywords(source, cfg.keywords_per_doc))
        coverage = keyword_coverage(kws, text)
        if len(text) < cfg.min_chars:
            out.dropped.append((row, "too_short", f"{len(text)} chars < {cfg.min_chars}"))
        elif ratio < cfg.min_length_ratio:
            out.dropped.append((row, "length_ratio_low", f"ratio {ratio:.3f}"))
        elif ratio > cfg.max_length_ratio:
            out.dropped.append((row, "length_ratio_high", f"ratio {ratio:.3f}"))
        elif coverage < cfg.min_keyword_coverage:
            out.dropped.append((row, "low_keyword_coverage", f"coverage {coverage:.3f}"))
        elif (h := text_hash(text)) in seen_hashes:
            out.dropped.append((row, "exact_duplicate", f"same as {seen_hashes[h]}"))
        else:
            sh = list(shingles(text, cfg.shingle_words))
            counts = learned.sketch.counts(sh)
            content = {s for s, c in zip(sh, counts, strict=True) if c < cfg.template_min_docs}
            twin = None
            if len(content) >= MIN_CONTENT_SHINGLES:
                twin = next((rid for rid, other in kept_shingles
                             if len(other) >= MIN_CONTENT_SHINGLES
                             and jaccard(content, other) >= cfg.near_dup_threshold), None)  # fmt: skip
            if twin is not None:
                out.dropped.append((row, "near_duplicate", f"near {twin}"))
                continue
            seen_hashes[h] = row["id"]
            kept_shingles.append((row["id"], content))
            out.kept.append({**row, "text": text})
    return out


def clean_inserts(rows: list[dict[str, Any]], learned: Learned, key_words: int,
                  cfg: StretchConfig) -> GroupResult:  # fmt: skip
    """Clean the rationales of ONE source document (``stretch`` mode)."""
    out = GroupResult()
    seen: dict[bytes, str] = {}
    for row in rows:
        if row.get("error"):
            out.dropped.append((row, GENERATION_ERROR, str(row["error"])))
            continue
        text, n = strip_boilerplate(row["text"], learned, key_words)
        # the rewrite operation's own rules (empty, thinking), on the text left over
        if (reject := REWRITE.parse(text).reject) is not None:
            out.dropped.append((row, reject, row["text"][:80]))
            continue
        out.lines_stripped += n
        out.rewrites_stripped += n > 0
        if len(text) < cfg.min_chars:
            out.dropped.append((row, "too_short", f"{len(text)} chars < {cfg.min_chars}"))
        elif (h := text_hash(text)) in seen:
            out.dropped.append((row, "exact_duplicate", f"same as {seen[h]}"))
        else:
            seen[h] = row["id"]
            out.kept.append({**row, "text": text})
    return out


def token_histogram(counts: list[int]) -> dict[str, int]:
    """Counts per power-of-two bucket (``"<=64"``: 33-64 tokens); sums across shards."""
    hist: Counter = Counter()
    for n in counts:
        hist[1 << max(0, (max(n, 1) - 1).bit_length())] += 1
    return {f"<={k}": v for k, v in sorted(hist.items())}


def _groups(storage: Any, paths: ShardPaths, n_chunks: int):
    """(chunk index, {source_id: [rewrite rows]}) in chunk order; a document's rewrites
    never straddle chunks."""
    for k in range(n_chunks):
        groups: dict[str, list[dict]] = {}
        for row in storage.read_json(paths.chunk("gen", k))["rows"]:
            groups.setdefault(row["source_id"], []).append(row)
        yield k, groups


def _doc_reason(doc_id: str, ga_rows: list[dict], result: GroupResult | None) -> tuple[str, str]:
    rejects = [r for g in ga_rows if g["source_id"] == doc_id and (r := ga_reject(g))]
    units = [g for g in ga_rows if g["source_id"] == doc_id]
    if units and len(rejects) == len(units):
        return f"ga_{rejects[0].split(':')[0]}", rejects[0]
    reasons = Counter(r for _, r, _ in result.dropped) if result else Counter()
    return "all_rewrites_dropped", ", ".join(f"{k}={v}" for k, v in sorted(reasons.items()))


def clean_shard(ctx: RunContext, shard: dict[str, Any]) -> dict[str, Any]:
    return run_shard_step(ctx, shard, CLEAN, shard_paths(ctx.config, shard))


def _clean(w: ShardWork) -> dict[str, Any]:
    ctx, shard, paths, gate = w.ctx, w.shard, w.paths, w.inputs["gate"]
    cfg, storage = ctx.config, ctx.storage
    ccfg = cfg.refresh.clean
    n = gate["chunks"]
    learned = learn(([r["text"] for r in rows if not r.get("error") and r["text"]]
                     for _, g in _groups(storage, paths, n) for rows in g.values()), ccfg)  # fmt: skip
    version = int(read_plan(ctx)["tool_models"]["version"])
    uri, mode = shard["uri"], cfg.refresh.output_mode
    assembler = Assembler(cfg, version, uri, counter_for(ctx))
    out_tokens: list[int] = []
    source_tokens: list[int] = []
    dropped: Counter = Counter()
    doc_rejects: Counter = Counter()
    examples: dict[str, list] = {}
    c: Counter = Counter()
    with tempfile.TemporaryDirectory(prefix="maga-clean-") as tmp:
        out = ParquetRows(Path(tmp) / "output.parquet", OUTPUT_SCHEMA)
        gens = ParquetRows(Path(tmp) / "generations.parquet", GENERATION_SCHEMA)
        src = ParquetRows(Path(tmp) / "source.parquet", SOURCE_SCHEMA)
        rej = ParquetRows(Path(tmp) / "rejects.parquet", REJECT_SCHEMA)
        hygiene = ShardHygiene(cfg, storage, output_root(cfg), shard["key"], Path(tmp))
        for q in iter_jsonl(storage, paths.stage("gate", "quarantine.jsonl")):
            rej.add(
                {
                    "source_shard": uri,
                    "record": q["record"],
                    "source_id": q["id"],
                    "stage": "input",
                    "reason": q["reason"],
                    "detail": q["detail"],
                }
            )
        for k, groups in _groups(storage, paths, n):
            sources: dict[str, str] = {}
            prompted: Counter = Counter()  # source id -> chars actually sent for rewriting
            for u in iter_units(storage, paths, k, cfg):
                sources[u["unit_id"]] = u["text"]
                prompted[u["source_id"]] += len(u["text"])
            ga_rows = storage.read_json(paths.chunk("ga", k))["rows"]
            for doc in iter_jsonl(storage, paths.chunk("input", k)):
                c["docs"] += 1
                c["input_chars"] += len(doc["text"])
                c["reformulated_chars"] += prompted[doc["id"]]
                rows = groups.get(doc["id"], [])
                if not rows:
                    res = None
                elif mode == "stretch":
                    res = clean_inserts(
                        rows, learned, ccfg.boilerplate_key_words, cfg.refresh.stretch
                    )
                else:
                    res = clean_group(rows, sources, learned, ccfg)
                if res:  # corpus hygiene (maga.hygiene) on what cleaning kept
                    res.kept, dropped_now = hygiene.apply(doc, res.kept)
                    res.dropped.extend(dropped_now)
                source_row = assembler.source_row(doc, bool(res and res.kept))
                source_tokens.append(source_row["n_tokens"])
                c["expanded_tokens"] += source_row["n_tokens"] if source_row["expanded"] else 0
                src.add(source_row)
                c["rewrites"] += len(rows)
                for row, reason, detail in res.dropped if res else []:
                    dropped[reason] += 1
                    rej.add({"source_shard": uri, "record": doc["record"],
                             "source_id": row["source_id"], "rewrite_id": row["id"],
                             "stage": "clean", "reason": reason, "detail": detail,
                             "genre": row["genre"], "audience": row["audience"],
                             "text": row["text"][:REJECT_TEXT_CHARS]})  # fmt: skip
                    if len(examples.setdefault(reason, [])) < ccfg.drop_examples_per_reason:
                        examples[reason].append({"id": row["id"], "detail": detail,
                                                 "text": row["text"][:300]})  # fmt: skip
                if res:
                    c["lines_stripped"] += res.lines_stripped
                    c["rewrites_stripped"] += res.rewrites_stripped
                if not res or not res.kept:
                    reason, detail = _doc_reason(doc["id"], ga_rows, res)
                    doc_rejects[reason] += 1
                    rej.add({"source_shard": uri, "record": doc["record"], "source_id": doc["id"],
                             "stage": "generation" if reason.startswith("ga_") else "clean",
                             "reason": reason, "detail": detail})  # fmt: skip
                    continue
                c["docs_with_output"] += 1
                c["kept"] += len(res.kept)
                generations = assembler.generation_rows(res.kept)
                for row in generations:
                    c["output_chars"] += row["n_chars"]  # new text only: the expansion
                    c["generation_tokens"] += row["n_tokens"]
                    if mode != "documents":
                        gens.add(row)
                for row in assembler.output_rows(doc, generations):
                    c["published_chars"] += row["n_chars"]
                    c["output_tokens"] += row["n_tokens"]
                    out_tokens.append(row["n_tokens"])
                    out.add(row)
        for rows_file in (out, gens, src, rej):
            rows_file.close()
            storage.put_file(rows_file.path, paths.stage("clean", rows_file.path.name))
        for local in hygiene.close():
            storage.put_file(local, paths.stage("clean", local.name))
        c["output_rows"], c["reject_rows"] = out.count, rej.count
        c["source_tokens"] = sum(source_tokens)
    stats = {
        **dict(c), "dropped": dict(sorted(dropped.items())),
        "doc_rejects": dict(sorted(doc_rejects.items())), "changed": hygiene.changed(),
        "hygiene": hygiene.stats(),
        "kept_share": round(c["kept"] / c["rewrites"], 4) if c["rewrites"] else 0.0,
        # against the text the models were given (after truncation or splitting), and
        # against the whole source for reference
        "expansion_ratio": round(c["output_chars"] / c["reformulated_chars"], 4)
        if c["reformulated_chars"] else 0.0,
        "source_expansion_ratio": round(c["output_chars"] / c["input_chars"], 4)
        if c["input_chars"] else 0.0,
        "boilerplate": {"docs": learned.docs, "min_docs": learned.threshold,
                        "first_lines": dict(list(learned.first.items())[:10]),
                        "last_lines": dict(list(learned.last.items())[:10])},
        "drop_examples": examples, "output_mode": mode,
        "output_token_hist": token_histogram(out_tokens),
        "source_token_hist": token_histogram(source_tokens),
    }  # fmt: skip
    log.info(
        "clean %s: %d rewrites -> %d kept (%.0f%%), dropped %s, docs without output %s",
        shard["key"],
        c["rewrites"],
        c["kept"],
        100 * stats["kept_share"],
        stats["dropped"],
        stats["doc_rejects"],
    )
    return stats


CLEAN = ShardStep("clean", needs=("gate", "reformulate"), work=_clean)
