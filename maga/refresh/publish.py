"""Step 6: publish the run's validated shards, atomically and idempotently.

Order, chosen so that a crash anywhere leaves readers a consistent corpus and a rerun
no duplicates:

1. the aggregate gate over every validated shard (a failure publishes nothing);
2. each validated shard's staged ``output.parquet``, ``source.parquet``,
   ``rejects.parquet`` (and, in the megadoc modes, ``generations.parquet``) are copied to
   ``data/``, ``source/``, ``rejects/`` (``generations/``) ``<key>.parquet``: one atomic
   object/file each,
   at a path that depends on the shard alone, so a changed shard replaces its old
   output and a repeated copy writes the same bytes again;
3. every other shard of the run (stopped by a gate at any step, or by a task error) is
   *rejected*: a rejects file names every source record's reason (its own input-gate
   reason, else ``shard_stopped`` or ``shard_failed`` with the gate or step and why), and
   it loses any output of an older version;
4. the near-duplicate index gets each published shard's signatures (this task is its
   single writer too, see :mod:`maga.refresh.dedup`), then the processed-shards
   manifest is written (one atomic put), with the rejected shards' step, gate, reason
   and fingerprint, then the dataset card;
5. only then the staging areas of published shards and of shards the input gate
   stopped are removed. A shard already in the manifest with the same content hash and
   no staging left was published by an earlier attempt.

A shard rejected after its input gate keeps its staging, so a retry (see
:mod:`maga.refresh.manifest` for when one happens) resumes from it. When the aggregate
gate fails, every shard that passed its own gates is rejected by it, and nothing is
published.
"""

from __future__ import annotations

import datetime as dt
import tempfile
from pathlib import Path
from typing import Any

from maga.gates.core import GateFailed, write_gate_result
from maga.jsonl import iter_jsonl
from maga.log import get_logger
from maga.refresh import counters
from maga.refresh.card import render_card
from maga.refresh.clean import REJECT_SCHEMA
from maga.refresh.dedup import dedup_across_shards, record_run_throughput, write_index
from maga.refresh.discover import read_plan
from maga.refresh.gates import gate_aggregate
from maga.refresh.layout import ShardPaths, card_uri, manifest_uri, shard_paths
from maga.refresh.manifest import load_manifest, update_manifest
from maga.refresh.report import build_report, render_markdown, shard_summary, totals
from maga.refresh.review import approved_keys
from maga.refresh.source import ShardSchemaError, iter_shard, record_id
from maga.runs.context import RunContext
from maga.runs.stage import StageStats, shard_outcome, staged
from maga.storage.parquet import ParquetRows

log = get_logger("refresh.publish")
LONG_DOC_STATS = ("truncated_docs", "truncated_chars", "split_docs", "parts_dropped")


def _gate_of(key: str, summary: dict) -> tuple[str | None, str, str]:
    """(gate name or None, step, stopped_by) of a shard that did not pass."""
    if summary.get("review"):  # a person rejected it
        return None, "review", "review"
    step = summary.get("failed_step") or "publish"
    if summary["outcome"] == "stopped":
        gate = {"gate": f"shard_input.{key}", "validate": f"shard_output.{key}"}.get(step)
        return gate or step, step, "gate"
    if summary["outcome"] == "ok":  # stopped by the aggregate gate
        return "refresh_aggregate", "publish", "gate"
    return None, step, "error"


def _stopped_rejects(ctx: RunContext, shard: dict, paths: ShardPaths, reason: str,
                     stopped_by: str) -> None:  # fmt: skip
    """Every source record of a rejected shard: its own input-gate reason, or
    ``shard_stopped`` (a gate) / ``shard_failed`` (a task error) with ``reason``.
    Records are read from the source itself, so a shard whose gate never finished is
    accounted for too."""
    storage = ctx.storage
    whole = {"gate": "shard_stopped", "review": "review_rejected"}.get(stopped_by, "shard_failed")
    quarantined: dict[int, dict] = {}
    quarantine = paths.stage("gate", "quarantine.jsonl")
    if staged(storage, paths, "gate") is not None and storage.exists(quarantine):
        quarantined = {q["record"]: q for q in iter_jsonl(storage, quarantine)}
    id_field = ctx.config.corpus.id_field
    with tempfile.TemporaryDirectory(prefix="maga-publish-") as tmp:
        rej = ParquetRows(Path(tmp) / "rejects.parquet", REJECT_SCHEMA)
        try:
            for n, row in iter_shard(storage, shard["uri"], ctx.config.corpus):
                q = quarantined.get(n)
                if q is not None:
                    rej.add({"source_shard": shard["uri"], "record": n, "source_id": q["id"],
                             "stage": "input", "reason": q["reason"], "detail": q["detail"]})  # fmt: skip
                    continue
                rej.add({"source_shard": shard["uri"], "record": n,
                         "source_id": record_id(row, id_field), "stage": "shard",
                         "reason": whole, "detail": reason})  # fmt: skip
        except ShardSchemaError as exc:  # no records to name: the manifest says why
            log.warning("rejects of %s: %s", shard["key"], exc)
        rej.close()
        storage.put_file(rej.path, paths.rejects)


def _entry(ctx: RunContext, shard: dict, paths: ShardPaths, summary: dict, status: str,
           plan: dict) -> dict[str, Any]:  # fmt: skip
    stats = {k: summary[k] for k in counters.manifest_counts()}
    published = status == "published"
    megadocs = published and summary.get("output_mode", "documents") != "documents"
    stats["prompt_tokens"] = sum(t["prompt"] for t in summary["tokens"].values())
    stats["completion_tokens"] = sum(t["completion"] for t in summary["tokens"].values())
    gate, step, stopped_by = (None, None, None) if published else _gate_of(shard["key"], summary)
    return {
        "etag": shard["etag"], "key": shard["key"], "status": status,
        "fingerprint": shard.get("fingerprint"), "step": step, "gate": gate,
        "stopped_by": stopped_by,
        "output": paths.data if published else None, "rejects": paths.rejects,
        "output_mode": summary.get("output_mode", "documents"),
        "generations": paths.generations if megadocs else None,
        "source_rows": paths.source if published else None,
        "rows": summary.get("output_rows", summary["kept"]) if published else 0,
        "reason": summary["reason"], "run_id": ctx.run_id,
        "tool_model_version": plan["tool_models"]["version"],
        "prompt_variant": plan["prompt_variant"],
        "settings_digest": plan.get("settings_digest"),
        "processed_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"), "stats": stats,
        **({"review": summary["review"]} if summary.get("review") else {}),
    }  # fmt: skip


def _write_step_stats(ctx: RunContext, rows: list[dict]) -> None:
    """Per-step totals over the shards, as ``<run>/<step>/stats.json`` for the summary."""
    steps = {
        "gate_input": ("records", "accepted", "quarantine_reasons", "gate"),
        "reformulate": ("docs", "rewrites", "ga_rejects", "reformulate"),
        "clean": ("rewrites", "kept", "dropped", "clean"),  # + "changed" (hygiene)
        "validate": ("kept", "kept", None, "validate"),
    }
    for name, (src, dst, reasons, step) in steps.items():
        dropped: dict[str, int] = {}
        for r in rows:
            for k, v in (r[reasons] if reasons else {}).items():
                dropped[k] = dropped.get(k, 0) + v
        tok = {"prompt_tokens": 0, "completion_tokens": 0}
        if name in ("reformulate", "validate"):
            for r in rows:
                for model, t in r["tokens"].items():
                    if (model == "judge") == (name == "validate"):
                        tok["prompt_tokens"] += t["prompt"]
                        tok["completion_tokens"] += t["completion"]
        extra: dict[str, Any] = {}
        if name == "reformulate":  # what the models never saw of the sources
            extra["long_docs"] = {k: sum(r.get(k, 0) for r in rows) for k in LONG_DOC_STATS}
        ctx.storage.write_json(ctx.uri(name, "stats.json"), {
            **extra, "docs_in": sum(r[src] for r in rows), "docs_out": sum(r[dst] for r in rows),
            "dropped": dict(sorted(dropped.items())), **tok, "artifacts": {},
            "seconds": round(sum(r["step_seconds"].get(step) or 0 for r in rows), 3),
            "shards": len(rows), **({"changed": totals(rows)["changed"]} if name == "clean"
                                    else {})})  # fmt: skip


class PublishStage:
    name = "publish"
    reads = ("discover/plan.json",)
    writes = ("publish/stats.json", "report.json", "report.md")

    def run(self, ctx: RunContext) -> StageStats:
        plan, storage = read_plan(ctx), ctx.storage
        output, cfg = plan["output"], ctx.config
        dedup_across_shards(ctx, plan)  # amends shards' clean figures: before the summaries
        summaries = {s["key"]: shard_summary(s, shard_outcome(ctx, s["key"]))
                     for s in ([] if plan["dry_run"] else plan["shards"])}  # fmt: skip
        ok = [s for s in plan["shards"] if s["key"] in summaries
              and summaries[s["key"]]["outcome"] == "ok"]  # fmt: skip
        stopped = [s for s in plan["shards"] if s["key"] in summaries
                   and summaries[s["key"]]["outcome"] != "ok"]  # fmt: skip
        aggregate, failed_gate = None, None
        if ok:
            result = gate_aggregate(totals([summaries[s["key"]] for s in ok]), cfg.refresh, output)
            write_gate_result(result, ctx.uri("gates", result.gate), storage=storage)
            aggregate = {"passed": result.passed, "reason": result.reason}
            if not result.passed:
                failed_gate = result
                for s in ok:
                    summaries[s["key"]]["reason"] = f"aggregate gate: {result.reason}"
                stopped, ok = ok + stopped, []
        approved, decision = approved_keys(ctx) if ok else (None, None)
        if decision is not None:  # a person reviewed the run: only what they approved
            said = {k: decision[k] for k in ("reviewer", "at", "comment", "action")}
            for s in ok:
                summaries[s["key"]]["review"] = said
                if s["key"] not in approved:
                    summaries[s["key"]]["reason"] = (f"review: rejected by {said['reviewer']}"
                                                     + (f": {said['comment']}" if said["comment"]
                                                        else ""))  # fmt: skip
            stopped += [s for s in ok if s["key"] not in approved]
            ok = [s for s in ok if s["key"] in approved]
        manifest = load_manifest(storage, output)
        entries, published = {}, []
        for s in ok:
            paths = shard_paths(cfg, s)
            if storage.exists(paths.stage("clean", "output.parquet")):
                storage.copy(paths.stage("clean", "output.parquet"), paths.data)
                storage.copy(paths.stage("clean", "source.parquet"), paths.source)
                if cfg.refresh.output_mode == "documents":
                    storage.delete(paths.generations)  # left by an earlier megadoc run
                else:
                    storage.copy(paths.stage("clean", "generations.parquet"), paths.generations)
                storage.copy(paths.stage("clean", "rejects.parquet"), paths.rejects)
            elif manifest["shards"].get(s["uri"], {}).get("etag") != s["etag"]:
                raise FileNotFoundError(
                    f"publish {s['key']}: staged output missing in "
                    f"{paths.staging} and not published before"
                )
            entries[s["uri"]] = _entry(ctx, s, paths, summaries[s["key"]], "published", plan)
            published.append(s["uri"])
        for s in stopped:
            paths, summary = shard_paths(cfg, s), summaries[s["key"]]
            entry = _entry(ctx, s, paths, summary, "rejected", plan)
            before = manifest["shards"].get(s["uri"], {})
            done_before = before.get("run_id") == ctx.run_id and before.get("etag") == s["etag"]
            if storage.exists(paths.staging) or not done_before:
                detail = f"{entry['gate'] or entry['step']}: {summary['reason']}"
                _stopped_rejects(ctx, s, paths, detail, entry["stopped_by"])
            entries[s["uri"]] = entry
        write_index(ctx, [s for s in ok if s["uri"] in published], stopped)
        if entries:
            manifest = update_manifest(storage, output, entries, plan["source"])
            storage.write_text(card_uri(output), render_card(manifest, cfg, output))
        for s in stopped:
            for uri in (shard_paths(cfg, s).data, shard_paths(cfg, s).generations,
                        shard_paths(cfg, s).source):  # fmt: skip
                storage.delete(uri)
        input_stopped = [s for s in stopped if summaries[s["key"]]["outcome"] == "stopped"
                         and summaries[s["key"]]["failed_step"] == "gate"]  # fmt: skip
        for s in ok + input_stopped:  # the others keep their work for a retry
            storage.delete_prefix(shard_paths(cfg, s).staging_root)
        if failed_gate is not None:
            _write_step_stats(ctx, list(summaries.values()))
            self._report(ctx, plan, [], aggregate)
            raise GateFailed(failed_gate)
        _write_step_stats(ctx, list(summaries.values()))
        report = self._report(ctx, plan, published, aggregate)
        t = report["totals"]
        record_run_throughput(ctx, plan, report)  # the next cost plan's throughput
        stats = StageStats(docs_in=len(plan["shards"]), docs_out=len(published))
        for s in plan["shards"]:
            outcome = summaries.get(s["key"], {}).get("outcome", "dry_run")
            if outcome != "ok":
                stats.drop(f"shard_{outcome}")
        stats.prompt_tokens, stats.completion_tokens = (
            t.get("prompt_tokens", 0),
            t.get("completion_tokens", 0),
        )
        stats.artifacts.update({"report": ctx.uri("report.json"), "manifest": manifest_uri(output),
                                "card": card_uri(output)})  # fmt: skip
        stats.extra.update({
            "unit": "shards", "dry_run": plan["dry_run"], "output": output,
            "published": published, "rows_published": sum(e["rows"] for e in entries.values()),
            "rejected_shards": [s["uri"] for s in stopped],
            "failed": {summaries[k]["uri"]: f"{v['failed_step']}: {v['reason']}"
                       for k, v in summaries.items() if v["outcome"] != "ok"},
            "tool_model_version": plan["tool_models"]["version"], "totals": t,
            "review": decision,
        })  # fmt: skip
        return stats

    @staticmethod
    def _report(ctx: RunContext, plan: dict, published: list[str],
                aggregate: dict | None) -> dict[str, Any]:  # fmt: skip
        report = build_report(ctx, plan, published, aggregate)
        ctx.storage.write_json(ctx.uri("report.json"), report)
        ctx.storage.write_text(ctx.uri("report.md"), render_markdown(report))
        return report
