"""Step 7 of ``maga_corpus_refresh``: the training-mix manifests over everything
published so far (:mod:`maga.mix.export` builds and writes them)."""

from __future__ import annotations

from maga.mix.export import export_mixes
from maga.refresh.discover import read_plan
from maga.refresh.manifest import load_manifest
from maga.runs.context import RunContext
from maga.runs.stage import StageStats


class ExportMixStage:
    name = "export_mix"
    reads = ("discover/plan.json",)
    writes = ("export_mix/stats.json",)

    def run(self, ctx: RunContext) -> StageStats:
        plan = read_plan(ctx)
        stats = StageStats()
        stats.extra["unit"] = "recipes"
        if plan["dry_run"] or not ctx.config.refresh.mix.enabled:
            stats.extra["skipped"] = "dry run" if plan["dry_run"] else "refresh.mix.enabled is off"
            return stats
        output = plan["output"]
        manifest = load_manifest(ctx.storage, output)
        summary = export_mixes(ctx.storage, ctx.config.refresh.mix, output, manifest)
        # the configured recipes, and maga_mix per output form when there are several
        stats.docs_in = len(summary["written"]) + len(summary["skipped"])
        stats.docs_out = len(summary["written"])
        for recipe in summary["skipped"]:
            stats.drop(f"{recipe}_not_buildable")
        stats.artifacts.update(summary["written"])
        stats.extra.update({"modes": summary["modes"], "skipped": summary["skipped"],
                            "components": summary["components"]})  # fmt: skip
        return stats
