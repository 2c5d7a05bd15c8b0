"""Quantize both tool models into a format the same vLLM loads."""

from __future__ import annotations

from maga.models.materialize import model_dir, publish_model
from maga.runs.context import RunContext
from maga.runs.stage import StageStats

MODELS = (("ga_slm", "train_ga_slm"), ("reformulation_slm", "train_reformulation_slm"))


class QuantizeStage:
    name = "quantize"
    reads = ("train_ga_slm/_SUCCESS", "train_reformulation_slm/_SUCCESS")
    writes = ("quantize/ga_slm/", "quantize/reformulation_slm/")

    def run(self, ctx: RunContext) -> StageStats:
        from maga.quantize.quantize import quantize_model

        q = ctx.config.quantize
        stats = StageStats(docs_in=len(MODELS))
        figures = {}
        for name, train_stage in MODELS:
            src = model_dir(ctx, train_stage, "model")
            dst = ctx.local_dir(self.name, name)
            if not (dst / "config.json").exists():
                figures[name] = quantize_model(src, dst, q.scheme, q.tool)
            stats.artifacts[name] = publish_model(ctx, dst, self.name, name)
        stats.docs_out = len(MODELS)
        stats.extra.update({"scheme": q.scheme, "tool": q.tool, "models": figures})
        return stats
