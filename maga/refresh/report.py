"""The run report: exactly what a refresh run processed, produced, dropped and why, and
what it cost in tokens and seconds. ``<run>/report.json`` for tools, ``report.md`` for
people; built from the plan and the per-shard step records, so a dry run and a run
that stopped early are reported the same way."""

from __future__ import annotations

from collections import Counter
from typing import Any

from maga.hygiene.report import hygiene_section, render_hygiene
from maga.refresh import counters
from maga.refresh.costplan import compare, render_cost_plan
from maga.refresh.counters import merge, shard_counts
from maga.runs.context import RunContext
from maga.runs.stage import shard_outcome


def shard_summary(shard: dict[str, Any], outcome: dict[str, Any]) -> dict[str, Any]:
    """One shard's figures, flattened from its step records (missing steps count 0)."""
    rec = {k: (v or {}).get("stats", {}) for k, v in outcome["records"].items()}
    models = rec["reformulate"].get("models", {})
    judge_usage = rec["validate"].get("judge_usage", {})
    tokens = {
        name: {
            "prompt": m.get("prompt_tokens", 0),
            "completion": m.get("completion_tokens", 0),
            "seconds": m.get("wall_seconds", 0.0),
        }
        for name, m in models.items()
    }
    if judge_usage:
        tokens["judge"] = {
            "prompt": judge_usage.get("prompt_tokens", 0),
            "completion": judge_usage.get("completion_tokens", 0),
            "seconds": judge_usage.get("generate_seconds", 0.0),
        }
    seconds = {k: (v or {}).get("seconds") for k, v in outcome["records"].items()}
    return {
        "uri": shard["uri"], "key": shard["key"], "change": shard["status"],
        "outcome": outcome["status"], "failed_step": None if outcome["status"] == "ok"
        else outcome["step"], "reason": outcome["reason"],
        **shard_counts(rec), "tokens": tokens, "step_seconds": seconds,
    }  # fmt: skip


def totals(rows: list[dict[str, Any]]) -> dict[str, Any]:
    """The run's totals: every counter merged over the shard rows, plus tokens and time."""
    t: Counter = Counter()
    for r in rows:
        for tok in r["tokens"].values():
            t["prompt_tokens"] += tok["prompt"]
            t["completion_tokens"] += tok["completion"]
            t["generate_seconds"] += tok["seconds"]
        t["seconds"] += sum(v or 0 for v in r["step_seconds"].values())
    out = merge(rows)
    out.update({"prompt_tokens": t["prompt_tokens"], "completion_tokens": t["completion_tokens"],
                "seconds": round(t["seconds"], 3), "generate_seconds": round(t["generate_seconds"], 3),
                "generated": out["rewrites"]})  # fmt: skip
    return out


def build_report(ctx: RunContext, plan: dict[str, Any], published: list[str],
                 aggregate: dict[str, Any] | None) -> dict[str, Any]:  # fmt: skip
    rows = [] if plan["dry_run"] else [shard_summary(s, shard_outcome(ctx, s["key"]))
                                       for s in plan["shards"]]  # fmt: skip
    t = totals(rows)
    cost_plan = ({"plan": plan["cost_plan"], "compared": None if plan["dry_run"]
                  else compare(plan["cost_plan"], t)} if plan.get("cost_plan") else {})  # fmt: skip
    return {
        "run_id": ctx.run_id, "run_uri": ctx.run_uri, "dry_run": plan["dry_run"],
        "source": plan["source"], "output": plan["output"],
        "tool_model_version": plan["tool_models"]["version"],
        "prompt_variant": plan["prompt_variant"], "shard_counts": plan["counts"],
        "selected": [s["uri"] for s in plan["shards"]],
        "deferred": plan["deferred"], "unchanged": len(plan["unchanged"]),
        "missing_from_source": plan["missing_from_source"], "published": published,
        "shards": rows, "totals": t, "aggregate_gate": aggregate, "cost_plan": cost_plan,
        "hygiene": hygiene_section(rows) if rows else {},
        "demo_models": ctx.config.demo_models,
    }  # fmt: skip


def _counts(d: dict[str, int]) -> str:
    return ", ".join(f"{k} {v}" for k, v in sorted(d.items(), key=lambda kv: -kv[1])) or "none"


def render_markdown(report: dict[str, Any]) -> str:
    t = report["totals"]
    lines = [f"# Corpus refresh {report['run_id']}", ""]
    if report["demo_models"]:
        lines += ["_Demo models: the rewrites are not meaningful text._", ""]
    lines += [
        f"- source: `{report['source']}`",
        f"- output: `{report['output']}`",
        f"- tool models: v{report['tool_model_version']:04d}, prompt variant "
        f"{report['prompt_variant']}",
        f"- shards: {_counts(report['shard_counts'])}",
    ]
    if report["dry_run"]:
        lines += ["", "**Dry run**: nothing was generated or published. Would process:", ""]
        lines += [f"- `{u}`" for u in report["selected"]] or ["- (nothing)"]
    if report["deferred"]:
        lines += ["", f"{len(report['deferred'])} more shards wait for the next run (shard limit)."]
    if not report["dry_run"]:
        lines += ["", "| shard | change | outcome | records | quarantined | docs | rewrites | "
                  "kept | expansion | judged <=2 | seconds |", "|---|---|---|---:|---:|---:|"
                  "---:|---:|---:|---:|---:|"]  # fmt: skip
        for r in report["shards"]:
            secs = sum(v or 0 for v in r["step_seconds"].values())
            outcome = r["outcome"] if r["outcome"] == "ok" else f"{r['outcome']}: {r['reason']}"
            lines.append(f"| {r['key']} | {r['change']} | {outcome} | {r['records']} | "
                         f"{r['quarantined']} | {r['docs']} | {r['rewrites']} | {r['kept']} | "
                         f"{r['expansion_ratio']:.2f} | {r['low_scores']}/{r['judged']} | "
                         f"{secs:.1f} |")  # fmt: skip
        lines += ["", f"Totals: {t.get('records', 0)} records read, {t.get('quarantined', 0)} "
                  f"quarantined ({_counts(t['quarantine_reasons'])}); {t.get('rewrites', 0)} "
                  f"rewrites, {t.get('kept', 0)} kept; dropped: {_counts(t['dropped'])}; "
                  f"changed: {_counts(t['changed'])}; "
                  f"documents without output: {_counts(t['doc_rejects'])}.",
                  f"Long documents: {t.get('truncated_docs', 0)} truncated, "
                  f"{t.get('split_docs', 0)} split ({t.get('parts_dropped', 0)} parts dropped); "
                  f"{t.get('truncated_chars', 0)} of {t.get('input_chars', 0)} source chars "
                  f"never reformulated. Expansion {t.get('output_chars', 0)} / "
                  f"{t.get('reformulated_chars', 0)} reformulated chars.",
                  f"Cost: {t.get('prompt_tokens', 0)} prompt + {t.get('completion_tokens', 0)} "
                  f"completion tokens, {t.get('generate_seconds', 0)} s generating, "
                  f"{t.get('seconds', 0)} s in shard steps.",
                  f"Published: {len(report['published'])} shard(s).",
                  "", "Every counter: " + ", ".join(f"{c.name} {t.get(c.name, 0)}"
                                                    for c in counters.COUNTS if c.merge == "sum") + "."]  # fmt: skip
        audit = report.get("audit")
        if audit:
            lines += ["", f"Audit: {audit['records']} source records: {audit['published']} "
                      f"published, {audit['rejected']} rejected with a reason "
                      f"({_counts(audit['rejected_by_reason'])}), **{audit['unaccounted']} "
                      "unaccounted**" + (f" ({_counts(audit['unaccounted_by_why'])})"
                                         if audit["unaccounted"] else "") + "."]  # fmt: skip
            lines += [f"- unaccounted: `{u['shard']}` record {u['record']} id {u['id']!r}: "
                      f"{u['why']}" for u in audit["unaccounted_records"][:20]]  # fmt: skip
        for r in report["shards"]:
            for reason, items in r["drop_examples"].items():
                for it in items[:1]:
                    lines.append(
                        f"- example `{reason}` ({r['key']}, {it['id']}, {it['detail']}): "
                        f"{it['text'][:160]!r}"
                    )
        lines += render_hygiene(report.get("hygiene") or {})
    lines += render_cost_plan(report.get("cost_plan") or {})
    return "\n".join(lines) + "\n"
