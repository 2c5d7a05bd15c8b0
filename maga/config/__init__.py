"""Typed pipeline configuration.

A profile YAML in ``configs/`` only serialises :class:`MagaConfig`; every field is
validated on load, unknown keys are rejected, and ``--set a.b=c`` overrides are
applied before validation so a typo fails early with the key it concerns.

The models live in submodules by area: ``base`` (shared pieces, project folders),
``engines`` (vLLM and HTTP model settings), ``pipeline`` (tool-models stages, runner),
``gates`` (thresholds), ``hygiene``, ``refresh``, ``mix_eval``, and ``profile``
(:class:`MagaConfig` and loading it). Import from ``maga.config``.
"""

from __future__ import annotations

from maga.config.base import CONFIG_DIR, PROJECT_ROOT, RECORDED, ConfigError
from maga.config.engines import (
    LORA_ENGINE_RANKS,
    LORA_TARGETS,
    HTTPBackendConfig,
    LoRAServingConfig,
    ModelConfig,
    SpeculativeConfig,
    VLLMEngineConfig,
)
from maga.config.gates import GateThresholds, RefreshGateThresholds, ReportConfig
from maga.config.hygiene import (
    BenchmarkSource,
    CostPlanConfig,
    DecontamConfig,
    HygieneConfig,
    LanguageCheckConfig,
    NearDupConfig,
    PIIConfig,
    PIIKind,
)
from maga.config.mix_eval import MixEvalConfig, MixEvalGate, ProxyConfig
from maga.config.pipeline import (
    CorpusConfig,
    DistillConfig,
    GenerationConfig,
    JudgeConfig,
    PromptVariant,
    QuantizeConfig,
    RunnerConfig,
    SamplingConfig,
    StorageConfig,
)
from maga.config.profile import (
    MagaConfig,
    apply_overrides,
    config_from_dict,
    config_from_json,
    load_config,
    resolve_profile_path,
)
from maga.config.refresh import (
    MegadocConfig,
    MixArm,
    MixConfig,
    MixRecipe,
    OutputMode,
    RefreshCleanConfig,
    RefreshConfig,
    ReviewConfig,
    StretchConfig,
    ToolModelsReviewConfig,
)

__all__ = [
    "BenchmarkSource",
    "CONFIG_DIR",
    "ConfigError",
    "CorpusConfig",
    "CostPlanConfig",
    "DecontamConfig",
    "DistillConfig",
    "GateThresholds",
    "GenerationConfig",
    "HTTPBackendConfig",
    "HygieneConfig",
    "JudgeConfig",
    "LORA_ENGINE_RANKS",
    "LORA_TARGETS",
    "LanguageCheckConfig",
    "LoRAServingConfig",
    "MagaConfig",
    "MegadocConfig",
    "MixArm",
    "MixConfig",
    "MixEvalConfig",
    "MixEvalGate",
    "MixRecipe",
    "ModelConfig",
    "NearDupConfig",
    "OutputMode",
    "PIIConfig",
    "PIIKind",
    "PROJECT_ROOT",
    "PromptVariant",
    "ProxyConfig",
    "QuantizeConfig",
    "RECORDED",
    "RefreshCleanConfig",
    "RefreshConfig",
    "RefreshGateThresholds",
    "ReportConfig",
    "ReviewConfig",
    "RunnerConfig",
    "SamplingConfig",
    "SpeculativeConfig",
    "StorageConfig",
    "StretchConfig",
    "ToolModelsReviewConfig",
    "VLLMEngineConfig",
    "apply_overrides",
    "config_from_dict",
    "config_from_json",
    "load_config",
    "resolve_profile_path",
]
