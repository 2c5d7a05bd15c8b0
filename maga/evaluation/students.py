"""Evaluate a pair of tool models (GA-SLM and reformulation SLM) on held-out documents
against the teacher, as in the paper's Table 1: both generate, the teacher judges both.

The reformulation SLM rewrites the held-out documents for the *teacher's* pairs, so
the two sides are judged on the same (document, genre, audience) items.
"""

from __future__ import annotations

from typing import Any

from maga.judging.judge import judge_rewrites, score_histogram, share_at_least
from maga.labeling.common import record_usage
from maga.llm.jobs import BenchSpec, prepare_engines, run_generation
from maga.llm.models import student_spec, teacher_spec
from maga.operations import GA, REWRITE, truncate
from maga.runs.context import RunContext
from maga.runs.stage import StageStats


def heldout_inputs(ctx: RunContext) -> tuple[dict[str, str], list[dict], list[dict]]:
    """(sources, heldout docs, teacher judged rewrites of held-out docs)."""
    from maga.jsonl import read_jsonl

    docs = [
        d
        for d in read_jsonl(ctx.storage, ctx.uri("sample", "sample.jsonl"))
        if d["split"] == "heldout"
    ]
    ids = {d["id"] for d in docs}
    teacher_rows = [
        r
        for r in read_jsonl(ctx.storage, ctx.uri("teacher_judge", "judged.jsonl"))
        if r["source_id"] in ids
    ]
    return {d["id"]: d["text"] for d in docs}, docs, teacher_rows


def evaluate_students(
    ctx: RunContext, ga_dir: str, reform_dir: str, tag: str, stats: StageStats
) -> tuple[dict[str, Any], list[dict], list[dict]]:
    cfg = ctx.config
    sources, docs, teacher_rows = heldout_inputs(ctx)
    bench = BenchSpec(cfg.quantize.bench_prompts, cfg.quantize.bench_max_tokens)
    stats.docs_in = len(docs)

    ga_reqs = [
        GA.request(cfg, d["id"], truncate(d["text"], cfg.generation.max_input_chars)[0])
        for d in docs
    ]
    ga_spec = student_spec(cfg, ga_dir, f"ga_slm{tag}")
    rw_spec = student_spec(cfg, reform_dir, f"reform_slm{tag}")
    prepare_engines([ga_spec, rw_spec, teacher_spec(cfg)])  # side by side, when kept
    ga_out = run_generation(ga_spec, ga_reqs, bench)
    record_usage(stats, f"ga_slm{tag}", ga_out)
    ga_rows = [
        {"id": d["id"], **GA.row(res, cfg.generation.pairs_per_doc), "raw": res.text[:500]}
        for d, res in zip(docs, ga_out.results, strict=True)
    ]
    ga_valid = sum(r["valid"] for r in ga_rows) / max(1, len(ga_rows))

    items = [
        {k: r[k] for k in ("id", "source_id", "pair_index", "genre", "audience", "split")}
        for r in teacher_rows
    ]
    rw_reqs = [
        REWRITE.request(
            cfg,
            f"slm:{it['id']}",
            truncate(sources[it["source_id"]], cfg.generation.max_input_chars)[0],
            it["genre"],
            it["audience"],
        )
        for it in items
    ]
    rw_out = run_generation(rw_spec, rw_reqs, bench)
    record_usage(stats, f"reform_slm{tag}", rw_out)
    slm_items = []
    for it, res in zip(items, rw_out.results, strict=True):
        text = REWRITE.outcome(res).text  # a failed generation is judged as an empty one
        slm_items.append({**it, "text": text or "(empty output)", "empty": not text})
    slm_rows, judge_out = judge_rewrites(cfg, sources, slm_items, label=f"judge-slm{tag}")
    record_usage(stats, f"teacher_judge_slm{tag}", judge_out)
    stats.docs_out = len(slm_rows)

    teacher_share = share_at_least(teacher_rows, 3)
    slm_share = share_at_least(slm_rows, 3)
    table = {
        "heldout_docs": len(docs),
        "judged_items": len(slm_rows),
        "teacher": {
            "score_counts": score_histogram(teacher_rows),
            "share_ge3": round(teacher_share, 4),
        },
        "slm": {"score_counts": score_histogram(slm_rows), "share_ge3": round(slm_share, 4)},
        "gap_share_ge3": round(teacher_share - slm_share, 4),
        "ga_slm_json_valid": round(ga_valid, 4),
        "tokens_per_s": {
            "ga_slm": (ga_out.bench or {}).get("tokens_per_s"),
            "reform_slm": (rw_out.bench or {}).get("tokens_per_s"),
        },
    }
    return table, ga_rows, slm_rows
