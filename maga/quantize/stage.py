"""Quantize both tool models into a format the same vLLM loads."""

from __future__ import annotations

import shutil
from pathlib import Path

from maga.distill.stage import SHARED_BASE
from maga.models.adapters import META, rank_of, write_meta
from maga.models.materialize import model_dir, publish_model
from maga.models.publish import publish_dir
from maga.runs.context import RunContext
from maga.runs.stage import StageStats

MODELS = (("ga_slm", "train_ga_slm"), ("reformulation_slm", "train_reformulation_slm"))


class QuantizeStage:
    name = "quantize"
    reads = ("train_ga_slm/_SUCCESS", "train_reformulation_slm/_SUCCESS")
    writes = ("quantize/ga_slm/", "quantize/reformulation_slm/")
    uses_accelerator = True  # kept engines end first on a GPU (run_stage)

    def run(self, ctx: RunContext) -> StageStats:
        from maga.quantize.quantize import quantize_model

        if ctx.config.distill.adapter == "lora":
            return self._run_lora(ctx)
        q = ctx.config.quantize
        stats = StageStats(docs_in=len(MODELS))
        figures = {}
        for name, train_stage in MODELS:
            src = model_dir(ctx, train_stage, "model")
            dst = ctx.local_dir(self.name, name)
            if q.scheme == "none":  # the trained model as it is (the later steps read here)
                _copy_model(Path(src), dst)
            elif not (dst / "config.json").exists():
                figures[name] = quantize_model(src, dst, q.scheme, q.tool)
            stats.artifacts[name] = publish_model(ctx, dst, self.name, name)
        stats.docs_out = len(MODELS)
        stats.extra.update({"scheme": q.scheme, "tool": q.tool, "models": figures})
        return stats

    def _run_lora(self, ctx: RunContext) -> StageStats:
        """LoRA adapters: quantize their shared base once (``quantize/base``; scheme
        ``none`` keeps it as trained) and publish each adapter, unchanged, pointing at
        it: ``quantize/<role>`` is an adapter folder the evaluation loads like a model."""
        from maga.quantize.quantize import quantize_model

        q = ctx.config.quantize
        stats = StageStats(docs_in=len(MODELS))
        figures = {}
        base = Path(model_dir(ctx, *SHARED_BASE))
        if q.scheme != "none":
            dst = ctx.local_dir(self.name, "base")
            if not (dst / "config.json").exists():
                figures["base"] = quantize_model(base, dst, q.scheme, q.tool)
            stats.artifacts["base"] = publish_model(ctx, dst, self.name, "base")
            base = dst
        for name, train_stage in MODELS:
            src = Path(model_dir(ctx, train_stage, "model"))
            dst = ctx.local_dir(self.name, name)
            with publish_dir(dst) as tmp:
                for f in src.iterdir():
                    if f.is_file() and f.name != META:
                        shutil.copy2(f, tmp / f.name)
                write_meta(tmp, base, rank=rank_of(src))
            stats.artifacts[name] = publish_model(ctx, dst, self.name, name)
        stats.docs_out = len(MODELS)
        stats.extra.update({"scheme": q.scheme, "tool": q.tool, "models": figures,
                            "adapter": "lora"})  # fmt: skip
        return stats


def _copy_model(src: Path, dst: Path) -> None:
    """``quantize.scheme: none`` with full models: publish the checkpoint unchanged."""
    if (dst / "config.json").exists():
        return
    with publish_dir(dst) as tmp:
        for f in src.iterdir():
            if f.is_file():
                shutil.copy2(f, tmp / f.name)
