"""The cost plan of a corpus refresh: what a run will spend, before it runs.

Built at discover for every run, dry or not (``plan["cost_plan"]``), from the selected
shards: per shard the number of documents (counted; for a plain JSONL shard larger than
the sample, estimated from the sample's bytes per record) and a sample of their lengths
(``refresh.hygiene.cost_plan.sample_docs``). Tokens follow the run's settings:

* each document becomes one unit (``truncate``: at most ``max_input_chars``) or up to
  ``max_parts`` parts (``split``), of ``chars / chars_per_token`` tokens, where
  ``chars_per_token`` is what earlier runs measured with the SLM tokenizer (manifest:
  source tokens over input chars), else the profile's value;
* GA-SLM: ``ceil(generations_per_source / pairs_per_doc)`` calls per unit, prompt =
  unit + ``prompt_overhead_tokens``, completion = ``ga_max_tokens`` (an upper bound);
* rewrites: ``generations_per_source`` per unit, prompt = unit + overhead, completion =
  the unit's length capped at ``rewrite_max_tokens`` (``stretch``: ``max_inserts``
  rationales of at most ``stretch.max_tokens``);
* judge: ``judge_sample`` per shard, prompt = unit + rewrite + overhead, completion =
  ``judge_max_tokens``.

A real run records what it spent per estimated token (``calibration``) with its
throughput; later plans multiply their token estimates by it (the raw estimate stays in
``uncalibrated``). Worker-hours divide the tokens by the throughput last measured on this hardware
(:mod:`maga.throughput`, written by ``maga bench`` and after every real refresh), preferring the same reformulation model.
"""

from __future__ import annotations

import json
import math
from typing import Any

from maga import hardware, throughput
from maga.config import MagaConfig
from maga.log import get_logger
from maga.refresh.source import iter_shard
from maga.storage import Storage

log = get_logger("refresh.costplan")


def _root(cfg: MagaConfig) -> str:
    from maga.runs.context import resolve_root

    return resolve_root(cfg.storage.root)


def record_throughput(storage: Storage, cfg: MagaConfig, *, source: str, model: str,
                      completion_tokens: int, prompt_tokens: int, seconds: float,
                      calibration: dict[str, float] | None = None) -> None:  # fmt: skip
    """One measurement in the throughput store (:mod:`maga.throughput`).
    ``calibration``: a real run's actual / estimated tokens, applied to later plans."""
    if seconds <= 0 or completion_tokens <= 0:
        return
    tps = round(completion_tokens / seconds, 3)
    throughput.record({"source": source, "model": model, "hardware": throughput.hardware(),
                       "tokens_per_s": tps, "precision": student_precision(cfg),
                       "completion_tokens": completion_tokens, "prompt_tokens": prompt_tokens,
                       "seconds": round(seconds, 3), "calibration": calibration or {}},
                      _root(cfg), storage)  # fmt: skip


def student_precision(cfg: MagaConfig) -> str:
    """The dtype the refresh's SLM engines run in on this machine (``engine.dtype`` auto
    resolved by :mod:`maga.hardware`)."""
    return hardware.engine_precision(cfg.student_engine.dtype).dtype


def last_throughput(storage: Storage, cfg: MagaConfig, model: str) -> dict[str, Any] | None:
    """The newest measurement on this hardware (CPU model, cores and ISA level) in the
    precision the SLMs will run in, of ``model`` when there is one."""
    return throughput.last_entry(model=model, root=_root(cfg), storage=storage, any_model=True,
                                 precision=student_precision(cfg))  # fmt: skip


def _sample(storage: Storage, shard: dict, cfg: MagaConfig, n: int) -> tuple[int, bool, list[int]]:
    """(documents, counted exactly, sampled text lengths)."""
    field, lengths, count, nbytes = cfg.corpus.text_field, [], 0, 0
    plain = not shard["uri"].endswith((".gz", ".parquet"))
    for _, row in iter_shard(storage, shard["uri"], cfg.corpus):
        count += 1
        text = row.get(field) if isinstance(row, dict) else None
        if isinstance(text, str) and text.strip() and len(lengths) < n:
            lengths.append(len(text))
            nbytes += len(json.dumps(row, ensure_ascii=False).encode("utf-8", "replace")) + 1
        if plain and count >= n and shard.get("size"):
            est = round(shard["size"] * len(lengths) / max(nbytes, 1))
            return max(est, count), False, lengths
    return count, True, lengths


def _chars_per_token(storage: Storage, cfg: MagaConfig, output: str) -> tuple[float, str]:
    from maga.refresh.manifest import load_manifest

    chars = tokens = 0
    for entry in load_manifest(storage, output).get("shards", {}).values():
        s = entry.get("stats", {})
        if s.get("source_tokens") and s.get("input_chars"):
            chars, tokens = chars + s["input_chars"], tokens + s["source_tokens"]
    if tokens:
        return chars / tokens, "measured on published shards"
    return cfg.refresh.hygiene.cost_plan.chars_per_token, "profile default"


def estimate_shard(lengths: list[int], docs: int, cfg: MagaConfig, cpt: float) -> dict[str, Any]:
    """Token estimate of one shard of ``docs`` documents like the sampled ``lengths``."""
    r, g, cp = cfg.refresh, cfg.generation, cfg.refresh.hygiene.cost_plan
    units: list[int] = []  # token length of each unit of the sampled documents
    for chars in lengths:
        if r.long_doc_policy == "split":
            parts = min(r.max_parts, max(1, math.ceil(chars / g.max_input_chars)))
            units += [math.ceil(min(chars, parts * g.max_input_chars) / parts / cpt)] * parts
        else:
            units.append(math.ceil(min(chars, g.max_input_chars) / cpt))
    scale = docs / len(lengths) if lengths else 0.0
    rounds = math.ceil(r.generations_per_source / g.pairs_per_doc)
    over = cp.prompt_overhead_tokens
    if r.output_mode == "stretch":
        gens, gen_cap = r.stretch.max_inserts, r.stretch.max_tokens
    else:
        gens, gen_cap = r.generations_per_source, g.rewrite_max_tokens
    ga_p = sum((u + over) * rounds for u in units)
    ga_c = len(units) * rounds * g.ga_max_tokens
    rw_p = sum((u + over) * gens for u in units)
    rw_c = sum(min(u, gen_cap) * gens for u in units)
    mean_unit = sum(units) / len(units) if units else 0.0
    judged = min(r.judge_sample, round(len(units) * scale * gens))
    j_p = judged * (mean_unit + min(mean_unit, gen_cap) + over)
    j_c = judged * g.judge_max_tokens
    prompt = round((ga_p + rw_p) * scale + j_p)
    completion = round((ga_c + rw_c) * scale + j_c)
    return {"docs": docs, "units": round(len(units) * scale),
            "requests": {"ga": round(len(units) * scale * rounds),
                         "rewrite": round(len(units) * scale * gens), "judge": judged},
            "prompt_tokens": prompt, "completion_tokens": completion,
            "by_model": {"ga_slm": [round(ga_p * scale), round(ga_c * scale)],
                         "reformulation_slm": [round(rw_p * scale), round(rw_c * scale)],
                         "judge": [round(j_p), round(j_c)]}}  # fmt: skip


def _hours(completion: int, tps: float | None) -> float | None:
    return round(completion / tps / 3600, 4) if tps else None


def build_cost_plan(ctx: Any, plan: dict[str, Any]) -> dict[str, Any]:
    cfg, storage = ctx.config, ctx.storage
    n = cfg.refresh.hygiene.cost_plan.sample_docs
    cpt, cpt_from = _chars_per_token(storage, cfg, plan["output"])
    model = str(plan["tool_models"].get("models", {}).get("reformulation_slm", ""))
    tp = last_throughput(storage, cfg, model)
    tps = tp["tokens_per_s"] if tp else None  # every entry has it (throughput.record)
    cal = {k: v for k, v in ((tp or {}).get("calibration") or {}).items()
           if k in ("prompt_tokens", "completion_tokens") and v}  # fmt: skip
    if cal and (tp or {}).get("calibration", {}).get("chars_per_token"):
        # the ratio holds for estimates made the same way: keep that run's chars/token
        cpt = tp["calibration"]["chars_per_token"]
        cpt_from = f"as in the calibrating run ({tp['source']})"
    shards, total = [], {"docs": 0, "prompt_tokens": 0, "completion_tokens": 0}
    for s in plan["shards"]:
        try:
            docs, exact, lengths = _sample(storage, s, cfg, n)
            error = ""
        except Exception as exc:  # the shard's own gate reports it; the plan goes on
            docs, exact, lengths, error = 0, False, [], f"{type(exc).__name__}: {exc}"
            log.warning("cost plan: %s not sampled: %s", s["uri"], error)
        est = estimate_shard(lengths, docs, cfg, cpt)
        if cal:  # what the last real run spent per estimated token
            est["uncalibrated"] = {k: est[k] for k in cal}
            est.update({k: round(est[k] * f) for k, f in cal.items()})
        est.update({"uri": s["uri"], "key": s["key"], "docs_exact": exact,
                    "sampled_docs": len(lengths), "error": error,
                    "mean_chars": round(sum(lengths) / len(lengths), 1) if lengths else 0.0,
                    "worker_hours": _hours(est["completion_tokens"], tps)})  # fmt: skip
        shards.append(est)
        for k in total:
            total[k] += est[k]
    total["worker_hours"] = _hours(total["completion_tokens"], tps)
    return {
        "shards": shards, "total": total, "chars_per_token": round(cpt, 3),
        "chars_per_token_from": cpt_from, "hardware": throughput.hardware_id(), "calibration": cal,
        "precision": student_precision(cfg),
        "throughput": tp, "throughput_note": "" if tp else (
            "no throughput measured on this hardware yet: run `maga bench` or one real "
            "refresh, then plan again"),
        "settings": {"generations_per_source": cfg.refresh.generations_per_source,
                     "pairs_per_doc": cfg.generation.pairs_per_doc,
                     "rewrite_max_tokens": cfg.generation.rewrite_max_tokens,
                     "ga_max_tokens": cfg.generation.ga_max_tokens,
                     "max_input_chars": cfg.generation.max_input_chars,
                     "output_mode": cfg.refresh.output_mode},
    }  # fmt: skip


def compare(estimate: dict[str, Any], totals: dict[str, Any]) -> dict[str, Any]:
    """The estimate beside what the run actually spent (report totals)."""
    actual = {"docs": totals.get("docs", 0), "prompt_tokens": totals.get("prompt_tokens", 0),
              "completion_tokens": totals.get("completion_tokens", 0),
              "worker_hours": round(totals.get("generate_seconds", 0.0) / 3600, 4)}  # fmt: skip
    est = estimate.get("total", {})
    ratio = {k: round(actual[k] / est[k], 3) if est.get(k) else None for k in actual}
    raw = {k: sum(s.get("uncalibrated", s)[k] for s in estimate.get("shards", []))
           for k in ("prompt_tokens", "completion_tokens")}  # fmt: skip
    calibration = {k: round(actual[k] / raw[k], 4) if raw[k] else None for k in raw}
    calibration["chars_per_token"] = estimate.get("chars_per_token")
    return {
        "estimate": est,
        "actual": actual,
        "actual_over_estimate": ratio,
        "calibration": calibration,
    }


def render_cost_plan(section: dict[str, Any]) -> list[str]:
    if not section:
        return []
    plan = section["plan"]
    t = plan["total"]
    tp = plan.get("throughput")
    lines = ["", "## Cost plan", "",
             f"Estimated from {sum(s['sampled_docs'] for s in plan['shards'])} sampled "
             f"documents, {plan['chars_per_token']} chars/token ({plan['chars_per_token_from']}), "
             f"hardware `{plan['hardware']}`; tokens calibrated by the last real run: "
             f"{plan.get('calibration') or 'none yet'}; throughput: "
             + (f"{tp['tokens_per_s']} completion tokens/s ({tp['source']}, "
                f"{tp['measured_at']})" if tp else plan["throughput_note"]) + ".", "",
             "| shard | documents | prompt tokens | completion tokens | worker-hours |",
             "|---|---:|---:|---:|---:|"]  # fmt: skip
    for s in plan["shards"]:
        docs = s["docs"] if s["docs_exact"] else f"~{s['docs']}"
        lines.append(f"| {s['key']} | {docs} | {s['prompt_tokens']} | {s['completion_tokens']} "
                     f"| {s['worker_hours'] if s['worker_hours'] is not None else '-'} |")  # fmt: skip
    lines.append(f"| **total** | {t['docs']} | {t['prompt_tokens']} | {t['completion_tokens']} | "
                 f"{t['worker_hours'] if t['worker_hours'] is not None else '-'} |")  # fmt: skip
    cmp = section.get("compared")
    if cmp:
        a, r = cmp["actual"], cmp["actual_over_estimate"]
        lines += ["", "| | estimate | actual | actual / estimate |", "|---|---:|---:|---:|"]
        for k in ("docs", "prompt_tokens", "completion_tokens", "worker_hours"):
            lines.append(f"| {k} | {cmp['estimate'].get(k)} | {a[k]} | {r[k]} |")
    return lines
