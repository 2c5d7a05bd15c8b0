"""Build :class:`ModelSpec` objects for the teacher and the student models."""

from __future__ import annotations

from maga.config import MagaConfig
from maga.llm.jobs import ModelSpec
from maga.models.builtin import resolve_model


def teacher_spec(cfg: MagaConfig) -> ModelSpec:
    t = cfg.teacher
    path = resolve_model(t.path) if t.backend == "vllm" else t.path
    return ModelSpec(
        label="teacher",
        path=path,
        backend=t.backend,
        engine=t.engine.model_dump(),
        http=t.http.model_dump(),
        seed=t.seed,
    )


def student_spec(cfg: MagaConfig, model_dir: str, label: str) -> ModelSpec:
    return ModelSpec(
        label=label,
        path=model_dir,
        backend="vllm",
        engine=cfg.student_engine.model_dump(),
        seed=cfg.teacher.seed,
    )
