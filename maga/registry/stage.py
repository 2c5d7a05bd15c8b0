"""Register the tool models: a versioned manifest with model URIs, their config and
the evaluation and quantization figures. ``latest.json`` points at the newest."""

from __future__ import annotations

import datetime as dt

from maga.distill.stage import SHARED_BASE
from maga.quantize.serve import serves_quantized
from maga.registry.manifest import (
    RegisteredModel,
    ToolModelsManifest,
    read_manifest,
    registry_root,
    versions,
    write_version,
)
from maga.runs.context import RunContext
from maga.runs.stage import StageStats


def choose_version(ctx: RunContext) -> int:
    """This run's version if it registered before (a rerun after a crash between the
    manifest and the stage marker), else one more than the highest version."""
    found = versions(ctx.storage, registry_root(ctx.root))
    for version, uri in found.items():
        if read_manifest(ctx.storage, uri).run_uri == ctx.run_uri:
            return version
    return max(found, default=0) + 1


def _models(ctx: RunContext, quant: dict, served: dict | None) -> dict[str, RegisteredModel]:
    """Each role's model: its trained (and quantized) folder; with LoRA adapters, the
    shared base (quantized when the quantize stage made one) plus the role's adapter.
    ``served`` (the quantized evaluation's choice) says which of the two the refresh loads."""
    trained = {"ga_slm": "train_ga_slm", "reformulation_slm": "train_reformulation_slm"}
    if ctx.config.distill.adapter == "lora":
        base = ctx.uri(*SHARED_BASE)
        both = serves_quantized(served, list(trained))
        return {role: RegisteredModel(uri=base, quantized_uri=quant["artifacts"].get("base"),
                                      adapter=ctx.uri(stage, "model"), serve_quantized=both)
                for role, stage in trained.items()}  # fmt: skip
    return {role: RegisteredModel(uri=ctx.uri(stage, "model"),
                                  quantized_uri=quant["artifacts"][role],
                                  serve_quantized=serves_quantized(served, [role]))
            for role, stage in trained.items()}  # fmt: skip


class RegisterStage:
    name = "register"
    reads = ("eval_slm/table1.json", "eval_quantized/comparison.json", "quantize/_SUCCESS")
    writes = ("register/manifest.json",)

    def run(self, ctx: RunContext) -> StageStats:
        cfg = ctx.config
        version = choose_version(ctx)
        quant = ctx.storage.read_json(ctx.uri("quantize", "stats.json"))
        summary = ctx.storage.read_json(ctx.uri("summary.json"))
        comparison = ctx.storage.read_json(ctx.uri("eval_quantized", "comparison.json"))
        manifest = ToolModelsManifest(
            version=version,
            created_at=dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
            run_uri=ctx.run_uri,
            dag_id=ctx.dag_id,
            run_id=ctx.run_id,
            profile=cfg.profile,
            demo_models=cfg.demo_models,
            models=_models(ctx, quant, comparison.get("served")),
            quantization={
                "scheme": cfg.quantize.scheme,
                "tool": cfg.quantize.tool,
                "serve": cfg.quantize.serve,
                "served": comparison.get("served"),
            },
            config={
                "teacher": cfg.teacher.path,
                "generation": cfg.generation.model_dump(),
                "judge": cfg.judge.model_dump(),
                "distill": cfg.distill.model_dump(),
                "student_engine": cfg.student_engine.model_dump(),
            },
            eval={
                "table1": ctx.storage.read_json(ctx.uri("eval_slm", "table1.json")),
                "quantized": comparison,
            },
            gates={k: v["passed"] for k, v in summary.get("gates", {}).items()},
        )
        ctx.storage.write_json(
            ctx.uri(self.name, "manifest.json"), manifest.model_dump(mode="json", exclude_none=True)
        )
        uri = write_version(ctx.storage, registry_root(ctx.root), manifest)
        stats = StageStats(docs_in=2, docs_out=2)
        stats.artifacts["manifest"] = uri
        stats.extra["version"] = version
        return stats
