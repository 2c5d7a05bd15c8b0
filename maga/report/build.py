"""Build a run's data-quality report: ``<run>/report.html`` beside ``summary.json``,
and the great-expectations Data Docs it links to under ``<run>/data_docs/``.

Each section is computed from what the run holds; a section whose inputs are absent
says so instead of failing the build. ``build_report`` is what the DAG's last task,
the ``maga report`` command and the Airflow plugin call.
"""

from __future__ import annotations

import datetime as dt
import time
from collections import Counter, defaultdict
from typing import Any

from maga.hygiene.report import hygiene_view
from maga.log import get_logger
from maga.report import charts
from maga.report.data import RunData, load_run
from maga.report.metrics import (
    PAPER_TABLE1,
    PAPER_TABLE3,
    boilerplate_stats,
    describe,
    distinct_n,
    length_ratios,
    n_words,
    score_counts,
    score_shares,
)
from maga.steps import GATE_ORDER, STAGE_LABELS
from maga.storage import Storage, join_uri
from maga.text import source_coverage

log = get_logger("report")

REPORT_NAME = "report.html"
DATA_DOCS_INDEX = "data_docs/index.html"


def _missing(why: str) -> dict[str, Any]:
    return {"available": False, "why": why}


def _check_status(check: dict[str, Any]) -> str:
    if check.get("advisory"):
        return "advisory"
    if check.get("passed"):
        return "pass"
    return "FAIL" if check.get("blocking", True) else "warn"


def _check_rows(record: dict[str, Any]) -> list[dict[str, Any]]:
    from maga.gates.core import CheckResult
    from maga.gates.report import describe_threshold, fmt

    rows = []
    for c in record.get("checks", []):
        res = CheckResult(
            name=str(c.get("name")), passed=bool(c.get("passed")), observed=c.get("observed"),
            threshold=c.get("threshold"), detail=str(c.get("detail") or ""),
            blocking=bool(c.get("blocking", True)), op=str(c.get("op") or ""),
            expectation=str(c.get("expectation") or ""),
        )  # fmt: skip
        observed = fmt(res.observed)
        row_rule = res.expectation.startswith("expect_column_values_") and not res.op
        if row_rule and isinstance(res.observed, int) and not isinstance(res.observed, bool):
            observed = f"{res.observed} failing rows"
        rows.append({"name": res.name, "observed": observed,
                     "threshold": describe_threshold(res), "status": _check_status(c),
                     "detail": res.detail})  # fmt: skip
    order = {"FAIL": 0, "warn": 1, "advisory": 1, "pass": 2}
    return sorted(rows, key=lambda r: order[r["status"]])


def gates_section(data: RunData) -> dict[str, Any]:
    if not data.gates:
        return _missing("no gate has run yet in this run")
    gates = []
    for name, rec in data.gates.items():
        gates.append({"name": name, "passed": bool(rec.get("passed")),
                      "reason": rec.get("reason") or "", "checks": _check_rows(rec),
                      "artifact": rec.get("artifact", ""),
                      "checked_at": rec.get("created_at", "")})  # fmt: skip
    gates.sort(key=lambda g: (g["passed"], name_order(g["name"])))
    return {"available": True, "gates": gates}


def name_order(gate: str) -> int:
    return GATE_ORDER.index(gate) if gate in GATE_ORDER else len(GATE_ORDER)


def funnel_section(data: RunData) -> dict[str, Any]:
    stages = data.summary.get("stages") or {}
    if not stages:
        return _missing("no stage has finished yet in this run")
    rows = []
    for name, st in stages.items():
        prompt, completion = (
            int(st.get("prompt_tokens") or 0),
            int(st.get("completion_tokens") or 0),
        )
        counts = {k: int(v) for k, v in (st.get("dropped") or {}).items() if v}
        dropped = dict(sorted(counts.items(), key=lambda kv: (-kv[1], kv[0])))
        rows.append({"stage": name, "label": STAGE_LABELS.get(name, name),
                     "docs_in": st.get("docs_in"), "docs_out": st.get("docs_out"),
                     "dropped": dropped, "prompt_tokens": prompt,
                     "completion_tokens": completion, "tokens": prompt + completion})  # fmt: skip
    examples = []
    for row in rows:
        found = data.drop_examples.get(row["stage"], {})
        for reason, count in row["dropped"].items():
            examples.append({"stage": row["stage"], "reason": reason, "count": count,
                             "items": found.get(reason, [])})  # fmt: skip
    docs_chart = charts.grouped_bars(
        [r["stage"] for r in rows],
        {"documents in": [r["docs_in"] or 0 for r in rows],
         "documents out": [r["docs_out"] or 0 for r in rows]},
        "Documents in and out per stage", width=720, height=280,
    )  # fmt: skip
    reasons: Counter[str] = Counter()
    for r in rows:
        for k, v in r["dropped"].items():
            reasons[f"{r['stage']}: {k}"] += v
    drop_chart = (charts.hbars(list(reasons), list(reasons.values()), "Dropped documents by reason",
                               width=720, color=charts.PALETTE[3]) if reasons else "")  # fmt: skip
    token_rows = [r for r in rows if r["tokens"]]
    token_chart = (charts.grouped_bars(
        [r["stage"] for r in token_rows],
        {"prompt tokens": [r["prompt_tokens"] for r in token_rows],
         "completion tokens": [r["completion_tokens"] for r in token_rows]},
        "Model tokens per stage", width=720, height=260) if token_rows else "")  # fmt: skip
    return {"available": True, "rows": rows, "examples": examples, "docs_chart": docs_chart,
            "drop_chart": drop_chart, "token_chart": token_chart}  # fmt: skip


def _variant(row: dict[str, Any], default: str) -> str:
    return str(row.get("prompt_variant") or default)


def consistency_section(data: RunData) -> dict[str, Any]:
    default = str((data.config.get("generation") or {}).get("prompt_variant") or "unknown")
    groups: dict[str, list[Any]] = defaultdict(list)
    for role, rows in data.judged.items():
        for r in rows:
            groups[f"{role} · {_variant(r, default)}"].append(r.get("score"))
    hists = {label: score_counts(scores) for label, scores in groups.items()}
    for label, counts in data.score_hists.items():
        hists[label] = {k: int(counts.get(k, 0)) for k in ("1", "2", "3", "4", "5", "unparsed")}
    out: dict[str, Any] = {"available": bool(hists)}
    if not hists:
        out["why"] = "no judged rewrites in this run (the judge stage has not run)"
    variants = [{"label": label, "counts": counts, "shares": score_shares(counts)}
                for label, counts in hists.items()]  # fmt: skip
    out["variants"] = variants
    if variants:
        out["hist_chart"] = charts.grouped_bars(
            ["1", "2", "3", "4", "5", "unparsed"],
            {v["label"]: [v["counts"][k] for k in ("1", "2", "3", "4", "5", "unparsed")]
             for v in variants},
            "Judge scores (Limited Consistency, 1-5) per prompt variant", width=720, height=280,
            y_label="rewrites",
        )  # fmt: skip
        labels = [v["label"] for v in variants] + [f"paper {k}" for k in PAPER_TABLE3]
        shares = [v["shares"] for v in variants] + list(PAPER_TABLE3.values())
        out["share_chart"] = charts.grouped_bars(
            labels,
            {">= 4": [s.get("ge4") for s in shares], "= 5": [s.get("eq5") for s in shares],
             "<= 2": [s.get("le2") for s in shares]},
            "Share judged >= 4, = 5, <= 2 (Table 3; paper rows for reference)",
            as_pct=True, width=720, height=300,
        )  # fmt: skip
    out["paper_table3"] = PAPER_TABLE3
    t1 = data.table1
    if t1:
        teacher, slm = t1.get("teacher", {}).get("share_ge3"), t1.get("slm", {}).get("share_ge3")
        out["table1"] = {"teacher": teacher, "slm": slm, "gap": t1.get("gap_share_ge3"),
                         "heldout_docs": t1.get("heldout_docs"),
                         "judged_items": t1.get("judged_items"),
                         "ga_slm_json_valid": t1.get("ga_slm_json_valid")}  # fmt: skip
        out["table1_chart"] = charts.grouped_bars(
            ["this run", "paper"],
            {"teacher": [teacher, PAPER_TABLE1["teacher_share_ge3"]],
             "tool SLM": [slm, PAPER_TABLE1["slm_share_ge3"]]},
            "Share judged >= 3: tool SLM vs teacher (Table 1)", as_pct=True,
        )  # fmt: skip
        out["available"] = True
    else:
        out["table1_why"] = "the SLM has not been evaluated against the teacher in this run"
    if data.comparison:
        out["quantized"] = data.comparison
    return out


def _linked(data: RunData) -> list[tuple[dict[str, Any], str]]:
    """(synthetic row, its source text) for rows whose source is known."""
    return [(r, data.sources[str(r.get("source_id"))]) for r in data.synthetic
            if str(r.get("source_id")) in data.sources and r.get("text")]  # fmt: skip


def expansion_section(data: RunData) -> dict[str, Any]:
    if not data.synthetic:
        return _missing("no synthetic documents in this run yet")
    linked = _linked(data)
    if not linked:
        return _missing("the source documents of the synthetic ones are not available")
    per_source = Counter(str(r.get("source_id")) for r, _ in linked)
    src_words = sum(n_words(data.sources[s]) for s in per_source)
    out_words = sum(n_words(str(r.get("text"))) for r, _ in linked)
    ratios = length_ratios((src, str(r.get("text"))) for r, src in linked)
    counts = list(per_source.values())
    hist = Counter(counts)
    return {
        "available": True,
        "source_docs": len(per_source),
        "sources_without_rewrites": max(0, len(data.sources) - len(per_source)),
        "synthetic_docs": len(linked),
        "source_words": src_words,
        "output_words": out_words,
        "ratio": round(out_words / src_words, 4) if src_words else None,
        "per_source": describe(counts),
        "lengths": describe(ratios),
        "ratio_chart": charts.histogram(
            ratios,
            "Length ratio: rewrite chars / source chars (cleaning's measure)",
            lo=0.0,
            hi=max(2.0, max(ratios or [0])),
        ),  # fmt: skip
        "per_source_chart": charts.bars(
            [str(k) for k in sorted(hist)],
            [hist[k] for k in sorted(hist)],
            "Rewrites per source document",
        ),  # fmt: skip
        "origin": data.synthetic_origin,
    }


def output_form_section(data: RunData) -> dict[str, Any]:
    """Output mode, token counts per mode and the length distribution of published
    documents (megadocs in the stitch and stretch modes) against their sources."""
    form = data.output_form
    if not form:
        return _missing("not a corpus-refresh run")
    t = form["totals"]
    if not t.get("output_rows"):
        return _missing("no published rows with token counts in this run")
    out_hist, src_hist = t.get("output_token_hist", {}), t.get("source_token_hist", {})
    labels = sorted(set(out_hist) | set(src_hist), key=lambda k: int(k.lstrip("<=")))
    mixes = form.get("mixes") or {}
    return {
        "available": True, "modes": ", ".join(form["modes"]),
        "rows": t.get("output_rows", 0), "tokens": t.get("output_tokens", 0),
        "source_tokens": t.get("source_tokens", 0),
        "generation_tokens": t.get("generation_tokens", 0),
        "mean_tokens": round(t.get("output_tokens", 0) / t["output_rows"], 1),
        "per_mode": mixes.get("modes") or {},
        "recipes": sorted((mixes.get("written") or {}).keys()),
        "skipped": mixes.get("skipped") or {},
        "length_chart": charts.grouped_bars(
            labels, {"published documents": [out_hist.get(k, 0) for k in labels],
                     "source documents": [src_hist.get(k, 0) for k in labels]},
            "Length in tokens (power-of-two buckets)", y_label="documents"),
    }  # fmt: skip


def diversity_section(data: RunData, view: Any, embed_error: str) -> dict[str, Any]:
    rows = [r for r in data.synthetic if r.get("text")]
    texts = [str(r["text"]) for r in rows]
    if not texts:
        return _missing("no synthetic documents in this run yet")
    linked = _linked(data)
    c = data.clean  # cleaning's own settings: the figures it filtered on
    k = c.keywords_per_doc
    cov = [c for c in (source_coverage(src, str(r["text"]), k) for r, src in linked)
           if c is not None]  # fmt: skip
    sources = list(data.sources.values())
    out: dict[str, Any] = {
        "available": True,
        "distinct": [{"n": n, "synthetic": distinct_n(texts, n),
                      "source": distinct_n(sources, n) if sources else None} for n in (1, 2, 3)],
        "boilerplate": boilerplate_stats(texts, [str(r.get("source_id")) for r in rows],
                                         c.boilerplate_key_words, c.boilerplate_min_docs,
                                         c.boilerplate_min_share),
        "keyword": describe(cov),
        "keyword_k": k,
        "keyword_chart": charts.histogram(cov, f"Keyword coverage (top {k} source keywords kept)",
                                          bins=10, lo=0.0, hi=1.0) if cov else "",
        "embed_error": embed_error,
    }  # fmt: skip
    if view is not None:
        ov = view.overlap
        out["overlap"] = ov.as_dict()
        out["paired"] = describe(ov.paired)
        out["paired_chart"] = (charts.histogram(ov.paired,
                                                "Cosine similarity of each rewrite to its source",
                                                bins=10, lo=min(0.0, min(ov.paired)), hi=1.0)
                               if ov.paired else "")  # fmt: skip
        out["projection_chart"] = charts.scatter(
            {"source": view.source_xy, "synthetic": view.synth_xy},
            f"Source vs synthetic embeddings ({view.method}, all-MiniLM-L6-v2)",
        )
        out["method"] = view.method
        out["plotted"] = [len(view.source_xy), len(view.synth_xy)]
        out["n_source"], out["n_synth"], out["sampled"] = view.n_source, view.n_synth, view.sampled
    return out


def collapse_section(data: RunData, view: Any, embed_error: str) -> tuple[dict[str, Any], Any]:
    """The recorded collapse gate when the DAG ran one, else a preview computed here."""
    from maga.gates.collapse import GATE, gate_collapse
    from maga.report.collapse import collapse_metrics, scored_counts

    cfg = data.report_cfg
    thresholds = {check: f"{op} {cfg.limit(field)[0]}" + (" (advisory)" if cfg.limit(field)[1] else "")
                  for check, field, op in (("low_score_share", "collapse_max_low_share", "<="),
                                           ("embedding_shift", "collapse_max_embedding_shift", "<="),
                                           ("embedding_coverage", "collapse_min_coverage", ">="))}  # fmt: skip
    role, _ = scored_counts(data)
    base = {"thresholds": thresholds, "scores_from": role, "embed_error": embed_error}
    if GATE in data.gates and data.gates[GATE].get("checks"):
        rec = data.gates[GATE]
        return {
            "available": True,
            "mode": "gate",
            "passed": bool(rec.get("passed")),
            "checks": _check_rows(rec),
            "reason": rec.get("reason", ""),
            **base,
        }, None
    metrics = collapse_metrics(data, view)
    if all(v is None for v in metrics.values()):
        return {**_missing("no judge scores and no embeddings for this run yet"), **base}, None
    result = gate_collapse(metrics, cfg, data.run_uri, skip_missing=True)
    rec = result.to_dict()
    missing = [k for k, v in metrics.items() if v is None]
    return {"available": True, "mode": "preview", "passed": result.passed,
            "checks": _check_rows(rec), "reason": result.reason, "not_evaluated": missing,
            **base}, result  # fmt: skip


def _engine_line(stages: dict[str, Any]) -> str:
    """The ISA, threads and dtypes the run's engines used, in one line (empty if none)."""
    seen = [st for st in stages.values() if st.get("engine_dtype")]
    if not seen:
        return ""
    dtypes = sorted({d for st in seen for d in st["engine_dtype"].values() if d})
    threads = max(int(st.get("engine_threads") or 0) for st in seen)
    return (f"Engines ran in {', '.join(dtypes)} on CPU ISA {seen[0].get('engine_isa')}, "
            f"{threads} thread(s) each (engine.dtype auto: native bf16 only with "
            "AVX512-BF16 or AMX, else float32; see `maga doctor`).")  # fmt: skip


def cost_section(data: RunData) -> dict[str, Any]:
    stages = data.summary.get("stages") or {}
    if not stages:
        return _missing("no stage has finished yet in this run")
    rows, models = [], []
    for name, st in stages.items():
        tokens = int(st.get("prompt_tokens") or 0) + int(st.get("completion_tokens") or 0)
        rows.append({"stage": name, "seconds": float(st.get("seconds") or 0), "tokens": tokens,
                     "prompt_tokens": int(st.get("prompt_tokens") or 0),
                     "completion_tokens": int(st.get("completion_tokens") or 0)})  # fmt: skip
        for model, m in (st.get("models") or {}).items():
            gen = m.get("generate_seconds")
            tps = m.get("completion_tokens_per_s")
            if tps is None and gen:
                tps = round(int(m.get("completion_tokens") or 0) / gen, 2)
            models.append({"stage": name, "model": model, "requests": m.get("requests"),
                           "failed": m.get("failed_requests"),
                           "prompt_tokens": m.get("prompt_tokens"),
                           "completion_tokens": m.get("completion_tokens"),
                           "generate_seconds": gen, "tokens_per_s": tps,
                           "dtype": (st.get("engine_dtype") or {}).get(model),
                           "startup_seconds": m.get("engine_startup_seconds")})  # fmt: skip
        training = st.get("training") or {}
        if training.get("train_tokens") and training.get("train_seconds"):
            models.append({"stage": name, "model": "training", "requests": training.get("steps"),
                           "failed": None, "prompt_tokens": training.get("train_tokens"),
                           "completion_tokens": None,
                           "generate_seconds": training.get("train_seconds"),
                           "tokens_per_s": round(training["train_tokens"]
                                                 / training["train_seconds"], 2),
                           "dtype": (training.get("plan") or {}).get("precision"),
                           "startup_seconds": None})  # fmt: skip
    out = {"available": True, "rows": rows, "models": models,
           "total_seconds": round(sum(r["seconds"] for r in rows), 2),
           "total_tokens": sum(r["tokens"] for r in rows),
           "engine": _engine_line(stages)}  # fmt: skip
    out["seconds_chart"] = charts.hbars([r["stage"] for r in rows], [r["seconds"] for r in rows],
                                        "Seconds per stage", width=720, unit=" s")  # fmt: skip
    with_tps = [m for m in models if m["tokens_per_s"]]
    out["tps_chart"] = (charts.hbars([f"{m['stage']}: {m['model']}" for m in with_tps],
                                     [m["tokens_per_s"] for m in with_tps],
                                     "Tokens per second per model", width=720,
                                     color=charts.PALETTE[2]) if with_tps else "")  # fmt: skip
    return out


def samples_section(data: RunData) -> dict[str, Any]:
    linked = _linked(data)
    if not linked:
        return _missing("no synthetic documents with known sources in this run yet")
    by_source: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for r, _ in linked:
        by_source[str(r.get("source_id"))].append(r)
    ranked = sorted(by_source, key=lambda s: (-len(by_source[s]), s))
    items = []
    for sid in ranked[: data.report_cfg.side_by_side]:
        rows = sorted(by_source[sid], key=lambda r: (r.get("pair_index") or 0, str(r.get("id"))))
        items.append({"source_id": sid, "source": data.sources[sid],
                      "rewrites": [{"genre": r.get("genre") or "", "audience": r.get("audience")
                                    or "", "score": r.get("score"), "text": r.get("text"),
                                    "variant": r.get("prompt_variant") or ""}
                                   for r in rows[:5]]})  # fmt: skip
    return {"available": True, "items": items}


def overall_status(data: RunData) -> dict[str, Any]:
    """The run's gate verdict and a label that says how many gates ran."""
    failed = [n for n, g in data.gates.items() if not g.get("passed")]
    n = len(data.gates)
    stopped = [f["task_id"] for f in data.summary.get("failures") or [] if f.get("final")]
    if stopped and not failed:  # a task failed for good outside any gate
        label = f"task{'s' if len(stopped) > 1 else ''} {', '.join(stopped)} failed"
        return {"status": "failed", "failed": [], "label": label}
    if not n:
        dry = (data.summary.get("plan") or {}).get("dry_run")
        label = "dry run: nothing processed" if dry else "no gate has run yet"
        return {"status": "no gates yet", "failed": [], "label": label}
    if failed:
        label = f"{len(failed)} of {n} gate{'s' if n > 1 else ''} failed: {', '.join(failed)}"
        return {"status": "failed", "failed": failed, "label": label}
    return {
        "status": "passed",
        "failed": [],
        "label": f"{n} of {n} gate{'s' if n > 1 else ''} passed",
    }


def build_context(data: RunData, *, with_embeddings: bool = True) -> tuple[dict[str, Any], Any]:
    """Everything the template shows, and the collapse preview result (or None)."""
    view, embed_error = None, ""
    if with_embeddings:
        from maga.report.embeddings import EmbeddingsUnavailable, run_embeddings

        try:
            view = run_embeddings(data)
        except EmbeddingsUnavailable as exc:
            embed_error = str(exc)
        if view is None and not embed_error:
            embed_error = "needs both source and synthetic documents"
    else:
        embed_error = "embeddings were switched off for this build"
    collapse, preview = collapse_section(data, view, embed_error)
    s = data.summary
    ctx = {
        "dag_id": s.get("dag_id", ""), "run_id": s.get("run_id", ""),
        "run_uri": data.run_uri, "profile": s.get("profile", ""),
        "updated_at": s.get("updated_at", ""),
        "generated_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "demo": data.demo, "note": s.get("note", ""), "overall": overall_status(data),
        "gates": gates_section(data), "funnel": funnel_section(data),
        "consistency": consistency_section(data), "expansion": expansion_section(data),
        "output_form": output_form_section(data),
        "diversity": diversity_section(data, view, embed_error), "collapse": collapse,
        "cost": cost_section(data), "samples": samples_section(data), "notes": data.notes,
        "failures": s.get("failures") or [], "plan": s.get("plan"),
        "hygiene": hygiene_view(data.refresh_report),
        "data_docs": {"href": None, "modes": {}, "error": ""},
    }  # fmt: skip
    return ctx, preview


def build_report(
    run_uri: str,
    *,
    storage: Storage | None = None,
    data_docs: bool = True,
    with_embeddings: bool = True,
) -> str:
    """Write ``report.html`` (and ``data_docs/``) into the run folder; return its URI."""
    from maga.report.html import render_report

    began = time.perf_counter()
    storage = storage or Storage()
    data = load_run(run_uri, storage)
    ctx, preview = build_context(data, with_embeddings=with_embeddings)
    if data_docs:
        from maga.report.datadocs import build_data_docs

        docs = build_data_docs(data.run_uri, data.gates, dag_id=ctx["dag_id"],
                               run_id=ctx["run_id"], extra=[preview] if preview else None,
                               storage=storage)  # fmt: skip
        ctx["data_docs"] = {"href": DATA_DOCS_INDEX if docs.index_uri else None,
                            "modes": docs.modes, "error": docs.error}  # fmt: skip
    uri = join_uri(data.run_uri, REPORT_NAME)
    storage.write_text(uri, render_report(ctx))
    log.info("report written to %s in %.1fs", uri, time.perf_counter() - began)
    return uri
