"""Distillation stages: train the GA-SLM (document -> pairs) and the reformulation
SLM (document + pair -> rewrite) on the judged teacher data.

With ``distill.adapter: lora`` each stage trains a LoRA adapter (its ``model`` folder)
of one shared base, ``distill_base/model``, derived once by whichever stage runs first.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from maga.jsonl import read_jsonl
from maga.models.builtin import resolve_model
from maga.models.materialize import publish_model
from maga.runs.context import RunContext
from maga.runs.stage import StageStats

# distill.adapter=lora: both SLMs are adapters of this one base (the student derived
# from the teacher), so the refresh serves them from one engine.
SHARED_BASE = ("distill_base", "model")


def _share(derived: Path, shared: Path) -> Path:
    """Move the student this stage derived to the shared base folder, unless the other
    SLM's stage got there first (both derive the same weights); the shared folder."""
    shared.parent.mkdir(parents=True, exist_ok=True)
    try:
        derived.rename(shared)
    except OSError:  # the other stage published it first
        if not (shared / "config.json").exists():
            raise
        shutil.rmtree(derived, ignore_errors=True)
    return shared


class TrainSLMStage:
    uses_accelerator = True  # kept engines end first on a GPU (run_stage)

    def __init__(self, kind: str) -> None:
        if kind not in ("ga", "reform"):
            raise ValueError(f"unknown SLM kind {kind!r}")
        self.kind = kind
        self.name = "train_ga_slm" if kind == "ga" else "train_reformulation_slm"
        self.reads = (f"teacher_judge/sft_{kind}.jsonl",)
        self.writes = (f"{self.name}/model/",)

    def run(self, ctx: RunContext) -> StageStats:
        from maga.distill.student import derive_student
        from maga.distill.train import train_sft

        cfg = ctx.config
        records = read_jsonl(ctx.storage, ctx.uri(*self.reads[0].split("/")))
        stats = StageStats(docs_in=len(records))
        base = ctx.local_dir(self.name, "base")
        out = ctx.local_dir(self.name, "model")
        lora = cfg.distill.adapter == "lora"
        shared = ctx.local_dir(*SHARED_BASE)
        if lora and (shared / "config.json").exists():
            base = shared
        elif not (base / "config.json").exists():
            if base.exists():
                shutil.rmtree(base)
            stats.extra["student"] = derive_student(
                resolve_model(cfg.teacher.path), cfg.distill.base, base
            )
        if lora and base != shared:
            base = _share(base, shared)
            stats.artifacts["base"] = publish_model(ctx, base, *SHARED_BASE)
        train = train_sft(str(base), records, str(out), cfg.distill)
        stats.docs_out = int(train.get("examples", 0))
        for reason, n in (train.get("dropped") or {}).items():
            if n:
                stats.drop(reason, n)
        stats.extra["training"] = train
        if not lora:
            shutil.rmtree(base, ignore_errors=True)  # the trained model is the artifact
        stats.artifacts["model"] = publish_model(ctx, out, self.name, "model")
        return stats
