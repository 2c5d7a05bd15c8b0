"""Step 1: find the source shards this run processes.

Lists the source (folder or ``s3://`` prefix of JSONL, JSONL.gz or Parquet shards),
compares each shard's URI and content hash (S3 ETag, sha256 locally) with the
processed-shards manifest, and takes the new, changed (and stale) ones in URI order up
to ``refresh.shard_limit``; the rest wait for the next run. The tool-model version is
resolved here, once per run. The plan goes to ``<run>/discover/plan.json``.
"""

from __future__ import annotations

from typing import Any

from maga.corpus.reader import CorpusError, list_shards
from maga.log import get_logger
from maga.refresh.layout import (
    data_settings,
    fingerprint,
    output_root,
    settings_digest,
    shard_key,
    source_root,
)
from maga.refresh.manifest import classify, load_manifest
from maga.refresh.toolmodels import resolve_tool_models
from maga.runs.context import RunContext, resolve_root
from maga.runs.stage import StageStats
from maga.storage import join_uri

log = get_logger("refresh.discover")


def builtin_source(ctx: RunContext, uri: str) -> str:
    """A built-in corpus as shards a refresh can read: sample shards of the Wikipedia
    summaries under ``<storage root>/corpora/`` (written once; the same every time)."""
    from maga.corpus.builtin import WIKI_URI, write_sample_shards

    if uri.rstrip("/") != WIKI_URI:
        raise CorpusError(
            f"unknown built-in corpus {uri!r} (known: {WIKI_URI}); or point "
            "refresh.source_uri (the 'source' param) at a folder or s3:// prefix of JSONL, "
            "JSONL.gz or Parquet shards"
        )
    folder = join_uri(resolve_root(ctx.config.storage.root), "corpora", "wiki-summaries")
    shards = write_sample_shards(ctx.storage, folder)
    log.info("refresh source %s: %d sample shards of the built-in corpus in %s", uri,
             len(shards), folder)  # fmt: skip
    return folder


def build_plan(ctx: RunContext) -> dict[str, Any]:
    cfg, storage = ctx.config, ctx.storage
    source = source_root(cfg)
    if source.startswith("builtin://"):
        source = builtin_source(ctx, source)
    shards = list_shards(cfg.corpus.model_copy(update={"uri": source}), storage)
    models = resolve_tool_models(cfg, storage, cfg.refresh.tool_model_version)
    output = output_root(cfg)
    manifest = load_manifest(storage, output)
    settings = data_settings(cfg, models["version"])
    digest = settings_digest(settings)
    classified = classify(
        shards,
        manifest,
        models["version"],
        cfg.refresh.redo_on_new_tool_models,
        cfg.refresh.output_mode,
        digest,
        fingerprint_of=lambda etag: fingerprint(etag, settings),
        retry_rejected=cfg.refresh.retry_rejected,
    )
    todo = [c for c in classified if c.status != "unchanged"]
    limit = cfg.refresh.shard_limit
    selected = [
        {"uri": c.shard.uri, "etag": c.shard.etag, "size": c.shard.size, "status": c.status,
         "key": shard_key(source, c.shard.uri), "fingerprint": fingerprint(c.shard.etag, settings)}
        for c in todo[:limit]
    ]  # fmt: skip
    listed = {s.uri for s in shards}
    return {
        "source": source,
        "output": output,
        "dry_run": cfg.refresh.dry_run,
        "shard_limit": limit,
        "prompt_variant": cfg.generation.prompt_variant,
        "output_mode": cfg.refresh.output_mode,
        "settings_digest": digest,
        "tool_models": models,
        "shards": selected,
        "deferred": [{"uri": c.shard.uri, "status": c.status} for c in todo[limit:]],
        "unchanged": [c.shard.uri for c in classified if c.status == "unchanged"],
        "missing_from_source": sorted(set(manifest.get("shards", {})) - listed),
        "counts": {s: sum(c.status == s for c in classified)
                   for s in ("new", "changed", "stale", "retry", "unchanged")},
    }  # fmt: skip


class DiscoverStage:
    name = "discover"
    reads: tuple[str, ...] = ()
    writes = ("discover/plan.json",)

    def run(self, ctx: RunContext) -> StageStats:
        plan = build_plan(ctx)
        if ctx.config.refresh.hygiene.cost_plan.enabled:  # dry or not: estimate vs actual
            from maga.refresh.costplan import build_cost_plan

            plan["cost_plan"] = build_cost_plan(ctx, plan)
        uri = ctx.uri(self.name, "plan.json")
        ctx.storage.write_json(uri, plan)
        stats = StageStats(docs_in=sum(plan["counts"].values()), docs_out=len(plan["shards"]))
        stats.artifacts["plan"] = uri
        stats.extra.update(
            {
                "unit": "shards",
                "shard_counts": plan["counts"],
                "selected": [s["uri"] for s in plan["shards"]],
                "deferred": len(plan["deferred"]),
                "tool_model_version": plan["tool_models"]["version"],
                "dry_run": plan["dry_run"],
                "source": plan["source"],
                "output": plan["output"],
                "documents": documents(ctx, plan) if plan["dry_run"] else None,
            }
        )
        if "cost_plan" in plan:
            cp = plan["cost_plan"]
            stats.extra["cost_plan"] = {**cp["total"], "per_shard": {
                s["key"]: {k: s[k] for k in ("docs", "prompt_tokens", "completion_tokens",
                                             "worker_hours")} for s in cp["shards"]},
                "throughput": cp["throughput"], "hardware": cp["hardware"]}  # fmt: skip
            log.info("cost plan: %s", cp["total"])
        verb = "would process" if plan["dry_run"] else "processing"
        log.info(
            "discover: %d shards listed (%s); %s %d now, %d wait for the next run",
            stats.docs_in,
            plan["counts"],
            verb,
            len(plan["shards"]),
            len(plan["deferred"]),
        )
        if plan["dry_run"]:
            log.info("dry run: %s documents in the %d shard(s) it would process; output %s",
                     stats.extra["documents"], len(plan["shards"]), plan["output"])  # fmt: skip
        return stats


def documents(ctx: RunContext, plan: dict[str, Any]) -> int:
    """Rows in the shards a run would take now (a dry run's "documents"): the cost plan's
    count when it made one, else counted here; an unreadable shard counts 0 (the run
    itself rejects it with the reason)."""
    if "cost_plan" in plan:
        return int(plan["cost_plan"]["total"]["docs"])
    from maga.refresh.source import ShardSchemaError, iter_shard

    total = 0
    for s in plan["shards"]:
        try:
            total += sum(1 for _ in iter_shard(ctx.storage, s["uri"], ctx.config.corpus))
        except ShardSchemaError as exc:
            log.warning("dry run: %s not counted: %s", s["uri"], exc)
    return total


def read_plan(ctx: RunContext) -> dict[str, Any]:
    return ctx.storage.read_json(ctx.uri("discover", "plan.json"))


def mapped_shards(plan: dict[str, Any]) -> list[dict[str, Any]]:
    """What the DAG maps over: the selected shards, none in a dry run."""
    return [] if plan["dry_run"] else list(plan["shards"])
