"""Build :class:`ModelSpec` objects for the teacher and the student models."""

from __future__ import annotations

from maga.config import LoRAServingConfig, MagaConfig
from maga.llm.jobs import ModelSpec
from maga.models.adapters import base_of, is_adapter, rank_of
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


def student_spec(cfg: MagaConfig, model_dir: str, label: str, lora: str | None = None) -> ModelSpec:
    """A student model: a full model folder, a LoRA adapter folder (served on the base
    its ``maga_adapter.json`` names), or ``model_dir`` as the base of adapter ``lora``.

    An adapter's engine settings come from the config (``student_engine.lora``, else the
    smallest that loads ``distill.lora_rank``), never from the adapter alone, so the
    GA-SLM and reformulation-SLM adapters of one base get one engine key."""
    if lora is None and is_adapter(model_dir):
        model_dir, lora = base_of(model_dir), model_dir
    engine = cfg.student_engine
    if lora is not None and engine.lora is None:
        rank = max(cfg.distill.lora_rank, rank_of(lora))
        engine = engine.model_copy(update={"lora": LoRAServingConfig.for_rank(rank)})
    return ModelSpec(
        label=label,
        path=model_dir,
        backend="vllm",
        engine=engine.model_dump(),
        seed=cfg.teacher.seed,
        lora=lora,
    )
