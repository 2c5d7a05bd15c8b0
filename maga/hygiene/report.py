"""The corpus-hygiene section of the refresh report (``report.json`` key ``hygiene``,
``## Corpus hygiene`` in ``report.md``): counts per reason with one example each, the
language mix of input and output, contamination per benchmark, PII by kind, and what
each step cost per 10k rewrites."""

from __future__ import annotations

from collections import Counter
from typing import Any

from maga.hygiene.shard import CHANGED, REASONS, STEPS

PER = 10_000


def hygiene_section(rows: list[dict[str, Any]]) -> dict[str, Any]:
    """``rows``: the report's per-shard summaries."""
    lang_in: Counter = Counter()
    lang_out: Counter = Counter()
    dropped: Counter = Counter()
    pii: Counter = Counter()
    bench: Counter = Counter()
    secs: Counter = Counter()
    examples: dict[str, dict[str, Any]] = {}
    checked = changed = index_rows = 0
    benchmarks: dict[str, Any] = {}
    for r in rows:
        h = r.get("hygiene") or {}
        lang_in.update(r.get("languages", {}))
        lang_out.update(h.get("languages_out", {}))
        dropped.update({k: v for k, v in r.get("dropped", {}).items() if k in REASONS})
        changed += r.get("changed", {}).get(CHANGED, 0)
        pii.update(h.get("pii", {}))
        bench.update(h.get("contaminated_by_benchmark", {}))
        secs.update(h.get("seconds", {}))
        checked += h.get("rewrites_checked", 0)
        index_rows = max(index_rows, h.get("near_dup_index_rows", 0))
        benchmarks = benchmarks or h.get("benchmarks", {})
        for reason, items in r.get("drop_examples", {}).items():
            if reason in REASONS and items and reason not in examples:
                examples[reason] = {"shard": r["key"], **items[0]}
        if h.get("pii_examples") and CHANGED not in examples:
            examples[CHANGED] = {"shard": r["key"], **h["pii_examples"][0]}
    cost = {step: round(secs.get(step, 0.0) / checked * PER, 3) if checked else None
            for step in STEPS}  # fmt: skip
    return {
        "rewrites_checked": checked, "dropped": {k: dropped.get(k, 0) for k in REASONS},
        "changed": {CHANGED: changed}, "pii_by_kind": dict(pii),
        "languages_in": dict(lang_in.most_common()), "languages_out": dict(lang_out.most_common()),
        "contaminated_by_benchmark": dict(bench), "benchmarks": benchmarks,
        "near_dup_index_rows_at_start": index_rows, "examples": examples,
        "seconds": {k: round(v, 3) for k, v in sorted(secs.items())},
        "seconds_per_10k_rewrites": cost,
    }  # fmt: skip


def _mix(d: dict[str, int]) -> str:
    total = sum(d.values())
    if not total:
        return "none"
    return ", ".join(f"{k} {v} ({v / total:.0%})" for k, v in d.items())


def render_hygiene(h: dict[str, Any]) -> list[str]:
    if not h:
        return []
    lines = ["", "## Corpus hygiene", "",
             f"- language mix, input (accepted records): {_mix(h['languages_in'])}",
             f"- language mix, output (kept rewrites): {_mix(h['languages_out'])}",
             f"- near-duplicate index: {h['near_dup_index_rows_at_start']} published "
             "signatures at the start of cleaning",
             f"- PII placeholders: {h['changed'][CHANGED]} rewrites changed "
             f"({', '.join(f'{k} {v}' for k, v in sorted(h['pii_by_kind'].items())) or 'none'})"]  # fmt: skip
    b = h.get("benchmarks") or {}
    if b:
        per = h["contaminated_by_benchmark"]
        lines.append(f"- decontamination ({b['n']}-grams): " + ", ".join(
            f"{name} {per.get(name, 0)} contaminated ({b['items'][name]} items)"
            for name in b["items"]))  # fmt: skip
    else:
        lines.append("- decontamination: no benchmark listed (refresh.hygiene.decontam.benchmarks)")
    lines += ["", "| reason | rewrites | example |", "|---|---:|---|"]
    for reason, n in {**h["dropped"], **h["changed"]}.items():
        ex = h["examples"].get(reason)
        shown = f"{ex['id']} ({ex['detail']}): {ex['text'][:120]!r}" if ex else ""
        lines.append(f"| {reason} | {n} | {shown.replace('|', '/')} |")
    cost = h["seconds_per_10k_rewrites"]
    lines += ["", f"Cost per 10k rewrites ({h['rewrites_checked']} checked): "
              + ", ".join(f"{k} {v} s" for k, v in cost.items() if v is not None)
              + "; loading: " + ", ".join(f"{k[:-5]} {v} s" for k, v in h["seconds"].items()
                                          if k.endswith("_load")) + "."]  # fmt: skip
    return lines


def hygiene_view(report: dict[str, Any]) -> dict[str, Any]:
    """What the HTML report's hygiene and cost-plan section shows (refresh runs only)."""
    h, cp = report.get("hygiene") or {}, report.get("cost_plan") or {}
    if not h and not cp:
        return {"available": False}
    reasons = []
    for reason, n in {**h.get("dropped", {}), **h.get("changed", {})}.items():
        ex = h.get("examples", {}).get(reason)
        reasons.append({"reason": reason, "count": n, "example":
                        f"{ex['id']} ({ex['detail']}): {ex['text'][:160]}" if ex else ""})  # fmt: skip
    plan, note = [], ""
    if cp:
        p = cp["plan"]
        plan = [{"label": s["key"], **{k: s[k] for k in ("docs", "prompt_tokens",
                 "completion_tokens", "worker_hours")}} for s in p["shards"]]  # fmt: skip
        plan.append({"label": "estimate, total", **p["total"]})
        if cp.get("compared"):
            plan.append({"label": "actual", **cp["compared"]["actual"]})
        tp = p.get("throughput")
        note = (f"Hardware {p['hardware']}; {p['chars_per_token']} chars/token "
                f"({p['chars_per_token_from']}); throughput "
                + (f"{tp['tokens_per_s']} completion tokens/s ({tp['source']})"
                   if tp else p["throughput_note"]))  # fmt: skip
    return {"available": True, "reasons": reasons,
            "languages_in": _mix(h.get("languages_in", {})),
            "languages_out": _mix(h.get("languages_out", {})),
            "pii": ", ".join(f"{k} {v}" for k, v in sorted(h.get("pii_by_kind", {}).items())),
            "benchmarks": ", ".join(f"{k} {v}" for k, v in
                                    h.get("contaminated_by_benchmark", {}).items()),
            "cost": ", ".join(f"{k} {v}" for k, v in
                              h.get("seconds_per_10k_rewrites", {}).items()),
            "plan": plan, "plan_note": note}  # fmt: skip
