"""How a model runs: vLLM engine settings (speculative decoding, LoRA serving), an
OpenAI-compatible server, and a model section (``teacher``).
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field, model_validator

from maga.config.base import _Strict


class SpeculativeConfig(_Strict):
    """Draft-free speculative decoding: a rewrite copies much of its source, so drafts
    looked up in the prompt (``ngram``) or in a suffix tree of prompt and past outputs
    (``suffix``, needs the arctic-inference package) are often accepted."""

    method: Literal["ngram", "suffix"] = "ngram"
    num_speculative_tokens: int = Field(4, ge=1, le=64)
    prompt_lookup_min: int = Field(2, ge=1)  # ngram: shortest match looked up
    prompt_lookup_max: int = Field(5, ge=1)  # ngram: longest match looked up

    @model_validator(mode="after")
    def _lookup(self) -> SpeculativeConfig:
        if self.prompt_lookup_min > self.prompt_lookup_max:
            raise ValueError("speculative.prompt_lookup_min must not exceed prompt_lookup_max")
        return self

    def engine_args(self) -> dict[str, Any]:
        """vLLM's ``speculative_config`` for this setting."""
        args: dict[str, Any] = {"method": self.method,
                                "num_speculative_tokens": self.num_speculative_tokens}  # fmt: skip
        if self.method == "ngram":
            args.update(prompt_lookup_min=self.prompt_lookup_min,
                        prompt_lookup_max=self.prompt_lookup_max)  # fmt: skip
        return args


LORA_TARGETS = ("q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj")
#: The LoRA ranks vLLM's engine accepts as ``max_lora_rank`` (vllm.config.lora).
LORA_ENGINE_RANKS = (8, 16, 32, 64, 128, 256)


class LoRAServingConfig(_Strict):
    """An engine that serves LoRA adapters of its model (vLLM multi-LoRA): requests of
    a spec with an adapter carry it, so one engine serves several adapters of one base."""

    max_rank: Literal[8, 16, 32, 64, 128, 256] = 16  # the largest adapter rank it loads
    max_loras: int = Field(2, ge=1)  # adapters in one batch

    @classmethod
    def for_rank(cls, rank: int, max_loras: int = 2) -> LoRAServingConfig:
        """The smallest engine setting that loads adapters of rank ``rank``."""
        fits = [r for r in LORA_ENGINE_RANKS if r >= rank]
        if not fits:
            raise ValueError(f"LoRA rank {rank} exceeds vLLM's largest ({LORA_ENGINE_RANKS[-1]})")
        return cls(max_rank=fits[0], max_loras=max_loras)  # type: ignore[arg-type]


class VLLMEngineConfig(_Strict):
    max_model_len: int = Field(2048, ge=128)
    gpu_memory_utilization: float = Field(0.1, gt=0, le=1)
    max_num_seqs: int = Field(64, ge=1)
    dtype: str = "auto"
    enforce_eager: bool = True
    kv_cache_space_gib: int | None = Field(2, ge=1)  # CPU build: VLLM_CPU_KVCACHE_SPACE
    # Engine core and model worker inside the job's own process (no extra processes):
    # engine start-up on 2 CPU cores drops from minutes to under one. Off on GPU, where
    # the separate engine-core process overlaps scheduling with the forward pass.
    single_process: bool = True
    # VLLM_BATCH_INVARIANT=1: outputs independent of batch composition (GPUs of compute
    # capability >= 9.0 in vLLM 0.24; slower kernels). Off: see README "Determinism".
    batch_invariant: bool = False
    # Requests kept in the engine at once when a job streams through it (None: four times
    # max_num_seqs). A finished request is replaced at once, so no chunk barrier drains
    # the batch, and memory holds this window, never the whole shard.
    inflight_requests: int | None = Field(None, ge=1)
    speculative: SpeculativeConfig | None = None  # off unless a profile asks for it
    # Multi-LoRA serving; None (off) unless the spec's model is a LoRA adapter.
    lora: LoRAServingConfig | None = None

    @property
    def window(self) -> int:
        return self.inflight_requests or 4 * self.max_num_seqs


class HTTPBackendConfig(_Strict):
    conn_id: str | None = "maga_teacher"  # Airflow connection holding host and key
    base_url: str | None = None  # used when no connection is found
    api_key_env: str = "MAGA_TEACHER_API_KEY"
    model: str | None = None  # served model name; defaults to the model path
    concurrency: int = Field(8, ge=1)
    timeout_s: float = Field(120.0, gt=0)
    max_retries: int = Field(4, ge=0)
    backoff_s: float = Field(1.0, ge=0)
    # Chat-template variables sent with every request (vLLM's chat_template_kwargs):
    # thinking off for Qwen3-style templates; {} for servers that reject unknown fields.
    chat_template_kwargs: dict[str, Any] = Field(default_factory=lambda: {"enable_thinking": False})


class ModelConfig(_Strict):
    # builtin:tiny-random, builtin:smollm2-135m-instruct, a local folder or a HF id
    path: str
    backend: Literal["vllm", "openai"] = "vllm"
    engine: VLLMEngineConfig = Field(default_factory=VLLMEngineConfig)
    http: HTTPBackendConfig = Field(default_factory=HTTPBackendConfig)
    temperature: float = Field(0.7, ge=0)
    top_p: float = Field(0.95, gt=0, le=1)
    seed: int = 0
