"""The mix evaluation's report section: Markdown (``mix_eval.md``) and a static HTML
page (``mix_eval.html``, no script, inline SVG) with the loss-vs-tokens plot, the table
of recipes x held-out loss (mean and spread over seeds), the data-efficiency multiplier,
the gate, the settings, and the refresh runs and tool-model versions that made the data.
All text is escaped."""

from __future__ import annotations

import math
from html import escape
from typing import Any

from maga.mixeval.results import BASELINE, MEGADOCS, curve_arm

DEMO_NOTE = ("Demo models made this data and the proxy is tiny: the figures show the "
             "evaluation working, not what the method does at scale.")  # fmt: skip


def _loss(cell: dict[str, Any] | None) -> str:
    if not cell:
        return "n/a"
    return (
        f"{cell['mean']:.4f} ± {cell['spread'] / 2:.4f} (range {cell['min']:.4f}–{cell['max']:.4f})"
    )


def _multiplier(entry: dict[str, Any]) -> str:
    if "multiplier" not in entry:
        return "; ".join(entry.get("notes") or ["n/a"])
    text = f"{entry['multiplier']:.2f}x (seeds {entry['min']:.2f}x–{entry['max']:.2f}x)"
    return text + (f" [{'; '.join(entry['notes'])}]" if entry.get("notes") else "")


def rows(out: dict[str, Any]) -> list[list[str]]:
    """Table rows: arm, held-out loss, verdict vs repetition, multiplier, per group."""
    eff = out["efficiency"].get("recipes", {})
    body = []
    for arm, groups in out["table"].items():
        cell = groups.get("all")
        extra = ", ".join(f"{g} {groups[g]['mean']:.3f}" for g in groups if g != "all")
        body.append([arm, _loss(cell), (cell or {}).get("vs_repetition", "(baseline)"
                     if arm == BASELINE else "curve point"),
                     _multiplier(eff[arm]) if arm in eff else "", extra])  # fmt: skip
    return body


HEAD = ["arm", "held-out loss, nats (mean ± half range over seeds)", "vs repetition",
        "data efficiency (equivalent real tokens / real tokens)", "per group (mean)"]  # fmt: skip


def _facts(out: dict[str, Any], skipped: bool) -> list[tuple[str, str]]:
    d, s, g = out["data"], out["settings"], out["gate"]
    proof = d["disjointness"]
    return [
        ("verdict rule", "better/worse only when the seed ranges do not overlap; "
         "otherwise 'no difference'"),
        ("gate", ("enabled" if g["enabled"] else "off") + f": {g['reason']}"),
        ("proxy", f"{s['parameters']:,} parameters; layers {s['proxy']['layers']}, width "
         f"{s['proxy']['width']}, heads {s['proxy']['heads']}, seq {s['proxy']['seq_len']}, "
         f"tokenizer {s['proxy']['tokenizer']}"),
        ("budget and schedule", f"{s['token_budget']:,} tokens per arm ({s['proxy']['steps']} "
         f"steps x {s['proxy']['batch_size']} x {s['proxy']['seq_len']}); AdamW lr "
         f"{s['proxy']['learning_rate']}, warm-up {s['proxy']['warmup_share']}, cosine"),
        ("seeds", ", ".join(map(str, s["seeds"]))),
        ("held-out documents", f"{proof['checked_docs']} checked ({s['heldout_docs']} evaluated, "
         f"the rest are the curve's extra real data) from {d['reference']}; shared ids: "
         f"{len(proof['shared_ids'])}, sharing a {proof['ngram']}-gram: "
         f"{len(proof['docs_sharing_ngram'])}; excluded: {proof['excluded_docs']}"),
        ("labeling sample", d["labeling_sample"]),
        ("real tokens (1x)", f"{d['real_tokens']:,}"),
        ("data", f"mixes {d['mixes']}; refresh runs {', '.join(d['refresh']['run_ids'])}; "
         f"tool models v{', v'.join(d['refresh']['tool_model_versions'])}"),
        ("fingerprint", out["fingerprint"] + (" (reused: same mixes and settings)" if skipped else "")),
        ("this evaluation", f"{out['run_uri']} ({out['created_at']})"),
        *_forms(out),
    ]  # fmt: skip


def _forms(out: dict[str, Any]) -> list[tuple[str, str]]:
    """The output forms compared (megadocs against plain rewrites), when there are some."""
    table, facts = out["table"], []
    if any(a.startswith("maga_mix_") for a in table):
        cells = {a: table.get(a, {}).get("all", {}) for a in MEGADOCS}
        versus = "; ".join(f"{a.removeprefix('maga_mix_')} vs documents: {c['vs_documents']} "
                           f"({c['gap_vs_documents']:+.4f} nats)"
                           for a, c in cells.items() if "vs_documents" in c)  # fmt: skip
        text = ("maga_mix_<form> is MAGA-Mix at maga_mix's budget and synthetic share with "
                "only that form as the synthetic half (documents: every kept rewrite its own "
                "row, those stitched megadocs are made of included); forms published by "
                "different shards also differ in their sources")  # fmt: skip
        facts.append(("output forms", text + (f". {versus}" if versus else "")))
    same = sorted((out.get("same_as") or {}).items())
    if same:
        facts.append(("same mix, trained once", ", ".join(f"{a} = {b}" for a, b in same)))
    return facts


def render_markdown(out: dict[str, Any], skipped: bool = False) -> str:
    lines = ["# Mix evaluation (proxy training)", ""]
    if out.get("demo_models"):
        lines += [f"_{DEMO_NOTE}_", ""]
    lines += ["| " + " | ".join(HEAD) + " |", "|" + " --- |" * len(HEAD)]
    lines += ["| " + " | ".join(r) + " |" for r in rows(out)]
    lines += [""] + [f"- **{k}**: {v}" for k, v in _facts(out, skipped)]
    return "\n".join(lines) + "\n"


def plot(out: dict[str, Any], width: int = 560, height: int = 300) -> str:
    """Held-out loss against real tokens (log scale): the repetition curve with its seed
    ranges, and each recipe at its equivalent real tokens (or its loss line)."""
    eff, table = out["efficiency"], out["table"]
    mults = out["settings"]["curve_multiples"]
    pts = [(m, table.get(curve_arm(m), {}).get("all")) for m in mults]
    pts = [(m, c) for m, c in pts if c]
    recipes = [(r, table[r]["all"]) for r in out["recipes"] if r != BASELINE and r in table]
    values = [c["min"] for _, c in pts + recipes] + [c["max"] for _, c in pts + recipes]
    if not values:
        return ""
    lo, hi = min(values), max(values)
    pad = (hi - lo) * 0.15 or 0.05
    lo, hi = lo - pad, hi + pad
    xmax = math.log2(max(mults) * 1.5)
    m0, w, h = 60, width - 80, height - 60

    def x(k: float) -> float:
        return m0 + w * (math.log2(max(k, 0.5)) + 1) / (xmax + 1)

    def y(v: float) -> float:
        return 20 + h * (hi - v) / (hi - lo)

    svg = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
           'font-family="sans-serif" font-size="11"><title>held-out loss vs real tokens</title>',
           f'<line x1="{m0}" y1="{20 + h}" x2="{m0 + w}" y2="{20 + h}" stroke="#999"/>',
           f'<line x1="{m0}" y1="20" x2="{m0}" y2="{20 + h}" stroke="#999"/>',
           f'<text x="{m0 + w / 2}" y="{height - 8}" text-anchor="middle">real tokens '
           '(multiple of the sources, log scale)</text>']  # fmt: skip
    for k in mults:
        svg.append(f'<text x="{x(k):.1f}" y="{34 + h}" text-anchor="middle">{k}x</text>')
    for v in (lo + pad, hi - pad):
        svg.append(f'<text x="{m0 - 4}" y="{y(v):.1f}" text-anchor="end">{v:.3f}</text>')
    path = " ".join(f"{x(k):.1f},{y(c['mean']):.1f}" for k, c in pts)
    svg.append(f'<polyline points="{path}" fill="none" stroke="#2f6db5" stroke-width="2"/>')
    for k, c in pts:
        svg.append(f'<line x1="{x(k):.1f}" y1="{y(c["min"]):.1f}" x2="{x(k):.1f}" '
                   f'y2="{y(c["max"]):.1f}" stroke="#2f6db5"/>'
                   f'<circle cx="{x(k):.1f}" cy="{y(c["mean"]):.1f}" r="3" fill="#2f6db5"/>')  # fmt: skip
    colours = ["#c0392b", "#27ae60", "#8e44ad", "#d35400", "#16a085"]
    for i, (name, c) in enumerate(recipes):
        col = colours[i % len(colours)]
        svg.append(f'<line x1="{m0}" y1="{y(c["mean"]):.1f}" x2="{m0 + w}" y2="{y(c["mean"]):.1f}" '
                   f'stroke="{col}" stroke-dasharray="4 3"/><text x="{m0 + w - 2}" '
                   f'y="{y(c["mean"]) - 3:.1f}" text-anchor="end" fill="{col}">'
                   f'{escape(name)}</text>')  # fmt: skip
        k = eff.get("recipes", {}).get(name, {}).get("multiplier")
        if k:
            svg.append(f'<circle cx="{x(k):.1f}" cy="{y(c["mean"]):.1f}" r="4" fill="{col}"/>')
    return "\n".join(svg + ["</svg>"])


def training_plot(out: dict[str, Any], width: int = 560, height: int = 260) -> str:
    """Training loss against tokens seen, one line per arm (mean over seeds)."""
    lines = {}
    for arm, seeds in out.get("runs", {}).items():
        curves = [s.get("train_curve") or [] for s in seeds]
        if curves and all(len(c) == len(curves[0]) for c in curves) and curves[0]:
            lines[arm] = [(p[0], sum(c[i][1] for c in curves) / len(curves))
                          for i, p in enumerate(curves[0])]  # fmt: skip
    if not lines:
        return ""
    xs = [x for pts in lines.values() for x, _ in pts]
    ys = [y for pts in lines.values() for _, y in pts]
    lo, hi, xmax = min(ys), max(ys), max(xs)
    m0, w, h = 60, width - 80, height - 60

    def pos(xv: float, yv: float) -> str:
        return f"{m0 + w * xv / xmax:.1f},{20 + h * (hi - yv) / ((hi - lo) or 1):.1f}"

    svg = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
           'font-family="sans-serif" font-size="11"><title>training loss vs tokens</title>',
           f'<line x1="{m0}" y1="{20 + h}" x2="{m0 + w}" y2="{20 + h}" stroke="#999"/>',
           f'<line x1="{m0}" y1="20" x2="{m0}" y2="{20 + h}" stroke="#999"/>',
           f'<text x="{m0 + w / 2}" y="{height - 8}" text-anchor="middle">training tokens '
           f'(0 to {xmax:,})</text><text x="{m0 - 4}" y="26" text-anchor="end">{hi:.2f}</text>',
           f'<text x="{m0 - 4}" y="{20 + h}" text-anchor="end">{lo:.2f}</text>']  # fmt: skip
    colours = ["#2f6db5", "#c0392b", "#27ae60", "#8e44ad", "#d35400", "#16a085", "#7f8c8d"]
    for i, (arm, pts) in enumerate(sorted(lines.items())):
        col = colours[i % len(colours)]
        path = " ".join(pos(x, y) for x, y in pts)
        svg.append(f'<polyline points="{path}" fill="none" stroke="{col}" stroke-width="1.5"/>'
                   f'<text x="{m0 + w - 2}" y="{34 + 13 * i}" text-anchor="end" fill="{col}">'
                   f"{escape(arm)}</text>")  # fmt: skip
    return "\n".join(svg + ["</svg>"])


def render_html(out: dict[str, Any], skipped: bool = False) -> str:
    head = "".join(f"<th>{escape(h)}</th>" for h in HEAD)
    body = "".join(
        "<tr>" + "".join(f"<td>{escape(c)}</td>" for c in r) + "</tr>" for r in rows(out)
    )
    facts = "".join(f"<tr><th>{escape(k)}</th><td>{escape(v)}</td></tr>"
                    for k, v in _facts(out, skipped))  # fmt: skip
    note = f'<p class="note">{escape(DEMO_NOTE)}</p>' if out.get("demo_models") else ""
    return f"""<!doctype html><html><head><meta charset="utf-8">
<title>Mix evaluation {escape(out["fingerprint"])}</title><style>
body{{font-family:system-ui,sans-serif;margin:1rem 1.5rem;color:#1d1d1f}}
table{{border-collapse:collapse;font-size:.88rem;margin:.6rem 0}}
td,th{{border:1px solid #ddd;padding:.3rem .5rem;text-align:left;vertical-align:top}}
th{{background:#f4f4f6}}.note{{background:#fff6d6;padding:.4rem .6rem}}</style></head><body>
<h1>Mix evaluation: does the expanded corpus help?</h1>{note}
<p>Each arm trains the same proxy from scratch at every seed; the loss is on held-out real
documents no source or labeling-sample document shares an id or a word n-gram with.</p>
<h2>Held-out loss vs real tokens</h2>{plot(out)}
<h2>Training loss vs tokens, per arm (mean over seeds)</h2>{training_plot(out)}
<h2>Recipes</h2><table><tr>{head}</tr>{body}</table>
<h2>Settings and data</h2><table>{facts}</table></body></html>
"""
