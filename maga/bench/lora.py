"""``maga bench-lora``: one LoRA engine for both SLMs against today's two engines.

Set-up, once: two LoRA adapters of one base (``--model``, the tiny random model by
default) trained with the project's own distillation (``train_sft``, ``adapter=lora``)
for ``--steps`` steps on synthetic GA and rewrite records; the same two SLMs merged into
full models (base + adapter, peft ``merge_and_unload``), and those quantized with
``w8a8-int8`` as the registry serves them on CPU. Three shapes of one shard's
reformulate step, on the same requests (``--docs`` documents: one GA request each, then
``generation.pairs_per_doc`` rewrite requests each, for fixed pairs so that the rewrite
prompts do not depend on the GA output):

* ``two_engines_int8``: today's shape as served: GA-SLM engine, then a reformulation-SLM
  engine (each model its own folder, so ``EngineSession`` starts two), quantized;
* ``two_engines``: the same, unquantized (the LoRA shape's precision);
* ``one_lora_engine``: one engine on the base with ``enable_lora``; GA requests carry the
  GA adapter, rewrite requests the reformulation adapter.

``--shapes`` picks some of them (``one_lora_engine`` always). Each repeat runs every
shape in a fresh ``EngineSession`` (as a shard task does), in an order rotated per
repeat, and records engine starts, start-up seconds (process start to
engine ready), output tokens/s over the generation time, shard wall time, the GA JSON
validity share (``parse_ga``: every rule kept) and, unless ``--no-judge``, the share of
rewrites the teacher judges >= 3 (one judge engine per repeat over all shapes' rewrites).
Ratios ``one_lora_engine`` / each other shape are computed within a repeat and printed
as median [min, max]; other jobs on the machine move every absolute figure.

With the tiny random model the text is meaningless: the quality figures only check that
the two shapes compute the same thing; throughput and start-up cost are the result.
"""

from __future__ import annotations

import json
import os
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

from maga.bench.refresh import fmt_spread, spread
from maga.log import get_logger

log = get_logger("bench.lora")
SHAPES = ("two_engines_int8", "two_engines", "one_lora_engine")
GENRES = ("encyclopedia entry", "news brief", "textbook section", "blog post", "FAQ",
          "lecture notes", "story", "dialogue")  # fmt: skip
AUDIENCES = ("children", "students", "experts", "tourists", "engineers", "retirees",
             "teachers", "journalists")  # fmt: skip


def _docs(n: int) -> list[dict[str, str]]:
    from maga.corpus.builtin import wiki_records

    pool = list(wiki_records(["en"], None))
    return [{"id": f"d{i}", "text": pool[i % len(pool)]["text"]} for i in range(n)]


def _pairs(i: int, n: int) -> list[dict[str, str]]:
    return [{"genre": GENRES[(i + k) % len(GENRES)],
             "audience": AUDIENCES[(3 * i + k) % len(AUDIENCES)]} for k in range(n)]  # fmt: skip


def requests(cfg: Any, docs: list[dict[str, str]]) -> tuple[list, list, list[dict]]:
    """(GA requests, rewrite requests, rewrite items) for ``docs``."""
    from maga.operations import GA, REWRITE, truncate

    g = cfg.generation
    ga, rw, items = [], [], []
    for i, d in enumerate(docs):
        text = truncate(d["text"], g.max_input_chars)[0]
        ga.append(GA.request(cfg, d["id"], text))
        for k, p in enumerate(_pairs(i, g.pairs_per_doc)):
            key = f"{d['id']}-{k}"
            rw.append(REWRITE.request(cfg, key, text, p["genre"], p["audience"]))
            items.append({"id": key, "source_id": d["id"], "pair_index": k, **p})
    return ga, rw, items


def _sft_records(cfg: Any, docs: list[dict[str, str]]) -> dict[str, list[dict]]:
    """Synthetic distillation data in the stages' prompt format: GA completions are
    the JSON the GA-SLM must write, rewrite completions the source's first sentences."""
    ga, rw, items = requests(cfg, docs)
    n = cfg.generation.pairs_per_doc
    ga_rows = [{"messages": r.messages,
                "completion": json.dumps({"pairs": _pairs(i, n)}, separators=(",", ":"))}
               for i, r in enumerate(ga)]  # fmt: skip
    text = {d["id"]: d["text"] for d in docs}
    rw_rows = [{"messages": r.messages, "completion": text[it["source_id"]][:300]}
               for r, it in zip(rw, items, strict=True)]  # fmt: skip
    return {"ga": ga_rows, "reform": rw_rows}


def build_models(cfg: Any, base: str, work: Path, steps: int, docs: list,
                 int8: bool = True) -> dict[str, Any]:  # fmt: skip
    """Adapters (trained), merged full models and (``int8``) their int8 copies, in ``work``."""
    import torch
    from peft import PeftModel
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from maga.distill.train import train_sft
    from maga.models.adapters import write_meta
    from maga.quantize.quantize import quantize_model

    settings = {**cfg.distill.model_dump(), "adapter": "lora", "max_steps": steps,
                "learning_rate": 2e-3, "max_seq_len": 768}  # fmt: skip
    tok = AutoTokenizer.from_pretrained(base)
    out: dict[str, Any] = {"base": base, "train": {}}
    for kind, records in _sft_records(cfg, docs).items():
        adapter = work / f"{kind}-adapter"
        stats = train_sft(base, records, adapter, settings, log_every=max(1, steps))
        write_meta(adapter, base, rank=cfg.distill.lora_rank)
        out["train"][kind] = {k: stats[k] for k in ("steps", "train_loss_first",
                                                    "train_loss_last", "trainable_parameters")}  # fmt: skip
        merged = work / f"{kind}-merged"
        model = AutoModelForCausalLM.from_pretrained(base, dtype=torch.float32)
        model = PeftModel.from_pretrained(model, str(adapter)).merge_and_unload()
        model.save_pretrained(merged, safe_serialization=True)
        tok.save_pretrained(merged)
        out[kind] = {"adapter": str(adapter), "merged": str(merged)}
        if int8:
            quantize_model(merged, work / f"{kind}-int8", "w8a8-int8")
            out[kind]["int8"] = str(work / f"{kind}-int8")
    return out


def shape_specs(cfg: Any, models: dict[str, Any], shape: str) -> tuple[Any, Any]:
    from maga.llm.models import student_spec

    if shape == "one_lora_engine":
        return (student_spec(cfg, models["ga"]["adapter"], "ga_slm"),
                student_spec(cfg, models["reform"]["adapter"], "reform_slm"))  # fmt: skip
    kind = "int8" if shape == "two_engines_int8" else "merged"
    return (student_spec(cfg, models["ga"][kind], "ga_slm"),
            student_spec(cfg, models["reform"][kind], "reform_slm"))  # fmt: skip


def run_shape(cfg: Any, models: dict[str, Any], shape: str, ga: list, rw: list) -> dict:
    """One shard's reformulate step in ``shape``: GA pass, then rewrite pass."""
    from maga.llm.jobs import EngineSession
    from maga.operations import parse_ga

    ga_spec, rw_spec = shape_specs(cfg, models, shape)
    began = time.perf_counter()
    with EngineSession() as session:
        ga_out = session.generate(ga_spec, ga)
        rw_out = session.generate(rw_spec, rw)
        starts, spawn = session.engine_starts, session.spawn_seconds
        engine = session.startup_seconds
    wall = time.perf_counter() - began
    tokens = ga_out.usage.completion_tokens + rw_out.usage.completion_tokens
    seconds = ga_out.usage.seconds + rw_out.usage.seconds
    n = cfg.generation.pairs_per_doc
    valid = [r.ok and parse_ga(r.text, n).reject is None for r in ga_out.results]
    return {
        "engine_starts": starts,
        "startup_s": round(spawn, 3),  # process start to engine ready, all engines
        "engine_build_s": round(engine, 3),  # vLLM engine construction only
        "completion_tokens": tokens,
        "generate_s": round(seconds, 3),
        "tokens_per_s": round(tokens / seconds, 2) if seconds else 0.0,
        "ga_tokens_per_s": round(ga_out.usage.tokens_per_s, 2),
        "rewrite_tokens_per_s": round(rw_out.usage.tokens_per_s, 2),
        "shard_wall_s": round(wall, 3),
        "ga_json_valid": round(sum(valid) / max(1, len(valid)), 4),
        "rewrites": [r.text for r in rw_out.results],
        "loadavg": round(os.getloadavg()[0], 2),
    }


def judge_shares(cfg: Any, docs: list, items: list[dict], runs: dict[str, dict]) -> None:
    """Judged share >= 3 of each shape's rewrites, one judge engine for all of them."""
    from maga.judging.judge import judge_rewrites, share_at_least

    sources = {d["id"]: d["text"] for d in docs}
    batch = [{**it, "id": f"{shape}:{it['id']}", "text": text or "(empty output)"}
             for shape, run in runs.items()
             for it, text in zip(items, run["rewrites"], strict=True)]  # fmt: skip
    judged, _ = judge_rewrites(cfg, sources, batch, label="bench-lora")
    for shape, run in runs.items():
        rows = [r for r in judged if r["id"].startswith(f"{shape}:")]
        run["judged_share_ge3"] = round(share_at_least(rows, 3), 4)


def run_bench_lora(profile: str = "tiny", overrides: list[str] | None = None, docs: int = 8,
                   repeats: int = 3, steps: int = 30, model: str = "builtin:tiny-random",
                   judge: bool = True, out: str | None = None,
                   shapes: tuple[str, ...] = SHAPES) -> dict[str, Any]:  # fmt: skip
    """``shapes``: the ones to measure, ``one_lora_engine`` and at least one other (the
    suite's tiny run leaves out ``two_engines_int8``: two engine starts fewer)."""
    from maga.config import load_config
    from maga.models.builtin import resolve_model

    if repeats < 1 or docs < 1 or steps < 1:
        raise ValueError("bench-lora: --repeats, --docs and --steps must be at least 1")
    if set(shapes) - set(SHAPES) or "one_lora_engine" not in shapes or len(set(shapes)) < 2:
        raise ValueError(f"bench-lora: --shapes takes one_lora_engine and others of {SHAPES}")
    shapes = tuple(s for s in SHAPES if s in shapes)
    cfg = load_config(profile, ["distill.adapter=lora", "quantize.scheme=none",
                                *(overrides or [])])  # fmt: skip
    base = resolve_model(model)
    documents = _docs(docs)
    ga, rw, items = requests(cfg, documents)
    runs: list[dict[str, dict]] = []
    with tempfile.TemporaryDirectory(prefix="maga-bench-lora-") as tmp:
        began = time.perf_counter()
        models = build_models(cfg, base, Path(tmp), steps, _docs(max(docs, 16)),
                              int8="two_engines_int8" in shapes)  # fmt: skip
        setup_s = round(time.perf_counter() - began, 1)
        for rep in range(repeats):
            order = shapes[rep % len(shapes) :] + shapes[: rep % len(shapes)]
            run: dict[str, dict] = {}
            for shape in order:
                log.info("bench-lora %d/%d: %s", rep + 1, repeats, shape)
                run[shape] = run_shape(cfg, models, shape, ga, rw)
            if judge:
                judge_shares(cfg, documents, items, run)
            runs.append(run)
    figures = _figures(model, docs, len(ga), len(rw), runs, models["train"], setup_s, judge)
    print(render(figures))
    if out:
        Path(out).write_text(json.dumps(figures, indent=2))
    return figures


def _figures(model: str, docs: int, n_ga: int, n_rw: int, runs: list[dict], train: dict,
             setup_s: float, judged: bool) -> dict[str, Any]:  # fmt: skip
    from maga import throughput

    keys = ["engine_starts", "startup_s", "engine_build_s", "tokens_per_s", "ga_tokens_per_s",
            "rewrite_tokens_per_s", "shard_wall_s", "ga_json_valid",
            *(["judged_share_ge3"] if judged else [])]  # fmt: skip
    measured = [s for s in SHAPES if s in runs[0]]
    shapes = {s: {k: spread([r[s][k] for r in runs]) for k in keys} for s in measured}
    ratios: dict[str, dict] = {}
    for other in measured[:-1]:  # one_lora_engine is last
        ratio = {}
        for k in ("tokens_per_s", "startup_s", "shard_wall_s", "engine_starts"):
            ratio[k] = spread([r["one_lora_engine"][k] / r[other][k] for r in runs])
        for k in ("ga_json_valid", *(["judged_share_ge3"] if judged else [])):
            ratio[f"{k}_diff"] = spread([r["one_lora_engine"][k] - r[other][k] for r in runs])
        ratios[f"one_lora_engine/{other}"] = ratio
    same = [sum(a == b for a, b in zip(r["one_lora_engine"]["rewrites"],
                                       r["two_engines"]["rewrites"], strict=True))
            / max(1, len(r["two_engines"]["rewrites"])) for r in runs
            if "two_engines" in r]  # fmt: skip
    return {
        "model": model, "docs": docs, "ga_requests": n_ga, "rewrite_requests": n_rw,
        "repeats": len(runs), "hardware": throughput.hardware(), "setup_s": setup_s,
        "adapter_training": train, "shapes": shapes, "ratios": ratios,
        "rewrites_identical_lora_vs_merged": round(statistics.median(same), 4) if same else None,
        "loadavg": spread([r[s]["loadavg"] for r in runs for s in measured]),
        "judged": judged,
    }  # fmt: skip


def render(f: dict[str, Any]) -> str:
    hw = f["hardware"]
    lines = [
        f"One LoRA engine vs two engines per shard: model {f['model']}, {f['docs']} documents "
        f"({f['ga_requests']} GA + {f['rewrite_requests']} rewrite requests), "
        f"{f['repeats']} repeats, median [min, max]",
        f"machine: {hw['cpu_model']}, {hw['cpu_cores']} cores, gpu {hw['gpu']}; 1-min load "
        f"average while measuring {fmt_spread(f['loadavg'], 2)} (compare ratios, not absolutes)",
        "| shape | engine starts | start-up s | output tok/s | GA tok/s | rewrite tok/s "
        "| shard wall s | GA JSON valid | judged >= 3 |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for shape, x in f["shapes"].items():
        judged = fmt_spread(x["judged_share_ge3"]) if "judged_share_ge3" in x else "not measured"
        lines.append(
            f"| {shape} | {x['engine_starts']['median']:.0f} | {fmt_spread(x['startup_s'], 1)} | "
            f"{fmt_spread(x['tokens_per_s'], 1)} | {fmt_spread(x['ga_tokens_per_s'], 1)} | "
            f"{fmt_spread(x['rewrite_tokens_per_s'], 1)} | {fmt_spread(x['shard_wall_s'], 1)} | "
            f"{fmt_spread(x['ga_json_valid'])} | {judged} |"
        )
    for name, r in f["ratios"].items():
        parts = [f"{k} {fmt_spread(v)}" for k, v in r.items()]
        lines.append(f"ratio {name}: " + "; ".join(parts))
    lines.append(
        "rewrites byte-identical, LoRA engine vs merged models (median share): "
        f"{f['rewrites_identical_lora_vs_merged'] or 'not measured'}"
    )
    return "\n".join(lines)
