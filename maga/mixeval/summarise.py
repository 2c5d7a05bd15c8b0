"""Step 3 of ``maga_mix_eval``: the results, the gate, the report and the registry.

Reads every ``train_<arm>/runs.json`` of the run, builds the table (recipes x held-out
loss, mean and spread over seeds, verdict against repetition), the data-efficiency
multiplier and the gate (:mod:`maga.mixeval.results`), writes ``results/results.json``,
the report section (``mix_eval.md``, ``mix_eval.html``, shown in the Airflow UI's "Mix
evaluation" tab) and records the result under its fingerprint in the registry of
evaluations, which is what lets a rerun of the same mix and settings skip. A run the plan
skipped copies the earlier result instead of training.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from maga.log import get_logger
from maga.mixeval import results
from maga.mixeval.plan import read_plan, registry_root
from maga.runs.context import RunContext
from maga.runs.stage import StageStats
from maga.storage import join_uri

log = get_logger("mixeval.results")


class GateStopped(RuntimeError):
    """The enabled mix-evaluation gate failed; the message says by how much."""


def settings(ctx: RunContext) -> dict[str, Any]:
    from maga.mixeval.data import vocab_size
    from maga.mixeval.proxy import parameter_count

    ev = ctx.config.mix_eval
    return {"proxy": ev.proxy.model_dump(), "token_budget": ev.proxy.token_budget,
            "parameters": parameter_count(ev.proxy, vocab_size(ev.proxy.tokenizer)),
            "seeds": ev.seeds, "heldout_docs": ev.heldout_docs, "ngram": ev.ngram,
            "curve_multiples": ev.curve_multiples, "profile": ctx.config.profile}  # fmt: skip


def collect(ctx: RunContext, plan: dict[str, Any]) -> dict[str, Any]:
    runs = {arm: ctx.storage.read_json(ctx.uri(f"train_{arm}", "runs.json"))
            for arm in sorted(plan["arms"])}  # fmt: skip
    same = plan.get("same_as", {})
    runs = dict(sorted({**runs, **{a: runs[b] for a, b in same.items()}}.items()))
    table = results.table(runs)
    others = [r for r in plan["recipes"] if r != results.BASELINE]
    return {
        "fingerprint": plan["fingerprint"], "run_uri": ctx.run_uri, "run_id": ctx.run_id,
        "created_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "recipes": plan["recipes"], "arms": sorted(runs), "same_as": same, "table": table,
        "runs": runs,
        "efficiency": results.efficiency(runs, ctx.config.mix_eval.curve_multiples, others),
        "gate": results.gate(ctx.config.mix_eval.gate, table),
        "settings": settings(ctx), "data": {k: plan[k] for k in (
            "output", "mixes", "real_tokens", "extra_tokens", "reference", "refresh",
            "labeling_sample", "disjointness", "refused_candidates")},
        "demo_models": ctx.config.demo_models,
    }  # fmt: skip


class SummariseStage:
    name = "results"
    reads = ("plan/plan.json",)
    writes = ("results/results.json", "mix_eval.html", "mix_eval.md")

    def run(self, ctx: RunContext) -> StageStats:
        from maga.mixeval.report import render_html, render_markdown

        storage, plan = ctx.storage, read_plan(ctx)
        if plan["skipped"]:
            out = {**storage.read_json(plan["earlier_result"]), "reused_by": ctx.run_uri}
        else:
            out = collect(ctx, plan)
            storage.write_json(join_uri(registry_root(ctx), plan["fingerprint"], "result.json"),
                               out)  # fmt: skip
        storage.write_json(ctx.uri("results", "results.json"), out)
        storage.write_text(ctx.uri("mix_eval.md"), render_markdown(out, plan["skipped"]))
        storage.write_text(ctx.uri("mix_eval.html"), render_html(out, plan["skipped"]))
        stats = StageStats(docs_in=len(out["arms"]), docs_out=len(out["table"]))
        stats.artifacts.update({"results": ctx.uri("results", "results.json"),
                                "report": ctx.uri("mix_eval.html"),
                                "registry": join_uri(registry_root(ctx), plan["fingerprint"])})  # fmt: skip
        stats.extra.update({
            "unit": "arms", "skipped": plan["skipped"], "fingerprint": plan["fingerprint"],
            "loss": {a: {k: g["all"].get(k) for k in ("mean", "spread", "vs_repetition")}
                     for a, g in out["table"].items() if "all" in g},
            "efficiency": {r: e.get("multiplier") for r, e in
                           out["efficiency"].get("recipes", {}).items()},
            "gate": out["gate"]})  # fmt: skip
        return stats


def enforce(ctx: RunContext) -> dict[str, Any]:
    """Raise GateStopped when the enabled gate failed (after everything was written)."""
    out = ctx.storage.read_json(ctx.uri("results", "results.json"))
    gate = out["gate"]
    if gate["enabled"] and not gate["passed"]:
        raise GateStopped(f"gate failed: mix_eval: {gate['reason']}")
    return out
