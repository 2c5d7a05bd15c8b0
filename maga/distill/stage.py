"""Distillation stages: train the GA-SLM (document -> pairs) and the reformulation
SLM (document + pair -> rewrite) on the judged teacher data."""

from __future__ import annotations

import shutil

from maga.jsonl import read_jsonl
from maga.models.builtin import resolve_model
from maga.models.materialize import publish_model
from maga.runs.context import RunContext
from maga.runs.stage import StageStats


class TrainSLMStage:
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
        if not (base / "config.json").exists():
            if base.exists():
                shutil.rmtree(base)
            stats.extra["student"] = derive_student(
                resolve_model(cfg.teacher.path), cfg.distill.base, base
            )
        train = train_sft(str(base), records, str(out), cfg.distill)
        stats.docs_out = int(train.get("examples", 0))
        for reason, n in (train.get("dropped") or {}).items():
            if n:
                stats.drop(reason, n)
        stats.extra["training"] = train
        shutil.rmtree(base, ignore_errors=True)  # the trained model is the artifact
        stats.artifacts["model"] = publish_model(ctx, out, self.name, "model")
        return stats
