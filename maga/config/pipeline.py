"""Sections of the tool-models pipeline and its runner: storage, corpus, sampling,
generation, judge, distillation, quantization, engines kept across stages.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field, model_validator

from maga.config.base import _Strict
from maga.config.engines import LORA_ENGINE_RANKS, LORA_TARGETS


class StorageConfig(_Strict):
    root: str = "var"  # local folder (relative to the project) or s3://bucket/prefix
    s3_conn_id: str = "maga_s3"  # Airflow connection; env MAGA_S3_* is the fallback
    endpoint_url: str | None = None
    region: str | None = None


class CorpusConfig(_Strict):
    uri: str = "builtin://wiki-summaries"  # folder, s3:// prefix, or a built-in corpus
    id_field: str = "id"
    text_field: str = "text"
    lang_field: str | None = "lang"
    languages: list[str] = Field(default_factory=lambda: ["en"])  # built-in corpus only
    limit: int | None = Field(default=None, ge=1)  # built-in corpus only


class SamplingConfig(_Strict):
    size: int = Field(64, ge=1)
    seed: int = 1234
    min_chars: int = Field(200, ge=1)
    max_chars: int = Field(4000, ge=1)
    length_buckets: list[int] = Field(default_factory=lambda: [400, 800, 1600])
    heldout_docs: int = Field(8, ge=1)  # documents kept out of SFT for Table 1

    @model_validator(mode="after")
    def _bounds(self) -> SamplingConfig:
        if self.min_chars >= self.max_chars:
            raise ValueError("sampling.min_chars must be below sampling.max_chars")
        if sorted(self.length_buckets) != self.length_buckets:
            raise ValueError("sampling.length_buckets must be ascending")
        if self.heldout_docs >= self.size:
            raise ValueError("sampling.heldout_docs must be smaller than sampling.size")
        return self


PromptVariant = Literal["base", "strict", "relaxed"]


class GenerationConfig(_Strict):
    prompt_variant: PromptVariant = "base"
    pairs_per_doc: int = Field(5, ge=1, le=64)
    ga_max_tokens: int = Field(512, ge=16)
    ga_field_max_chars: int = Field(400, ge=8)  # longest genre/audience description
    rewrite_max_tokens: int = Field(512, ge=16)
    judge_max_tokens: int = Field(96, ge=8)
    judge_reason_max_chars: int = Field(200, ge=4)
    max_input_chars: int = Field(4000, ge=100)  # longer documents are truncated, counted


class JudgeConfig(_Strict):
    keep_threshold: int = Field(3, ge=1, le=5)


class DistillConfig(_Strict):
    # "teacher" starts from the teacher weights; "teacher-layers:N" keeps its first N
    # layers; anything else is a local folder or HF id.
    base: str = "teacher"
    epochs: float = Field(1.0, gt=0)
    learning_rate: float = Field(5e-5, gt=0)
    batch_size: int = Field(4, ge=1)
    grad_accum: int = Field(1, ge=1)
    max_seq_len: int = Field(1024, ge=64)
    max_steps: int = -1
    seed: int = 1234
    # "full": fine-tune every weight (one model per SLM). "lora": train a LoRA adapter
    # of the shared base per SLM (peft); the refresh then serves both SLMs from one
    # engine (vLLM multi-LoRA), see README "One engine for both SLMs".
    adapter: Literal["full", "lora"] = "full"
    lora_rank: int = Field(8, ge=1, le=LORA_ENGINE_RANKS[-1])
    lora_alpha: float = Field(16.0, gt=0)
    lora_dropout: float = Field(0.0, ge=0, lt=1)
    lora_targets: list[str] = Field(
        default_factory=lambda: list(LORA_TARGETS), min_length=1
    )  # Linear layers adapted (Llama-style names)


class QuantizeConfig(_Strict):
    scheme: Literal["w8a8-int8", "fp8-w8a8", "none"] = "w8a8-int8"  # none: publish as trained
    tool: Literal["builtin", "llm-compressor"] = "builtin"
    # Which student the refresh serves (maga.quantize.serve): always the quantized one,
    # or "faster": the trained one where the quantized one ran under (1 - serve_margin)
    # of its tok/s in the evaluations on this machine (INT8 can lose to float32 on AVX2).
    serve: Literal["quantized", "faster"] = "quantized"
    serve_margin: float = Field(0.1, ge=0, lt=1)
    bench_prompts: int = Field(16, ge=1)
    bench_max_tokens: int = Field(64, ge=8)


class RunnerConfig(_Strict):
    # Engines the CLI runner (``maga run``, ``maga demo``) keeps alive across stages, so
    # a model that several stages use starts once (maga.llm.pool.EnginePool). 1: one
    # engine at a time, reused while consecutive stages ask for the same model (what one
    # GPU holds). Airflow tasks run in processes of their own and start their own engines.
    keep_engines: int = Field(1, ge=1)
    # Airflow: seconds an engine host keeps engines after its last task (maga.llm.host),
    # so the next model task reuses them as the CLI's stages do; 0: each task starts its
    # own. Never on a GPU (training tasks need that memory). MAGA_ENGINE_HOST_IDLE_S
    # overrides it.
    engine_host_idle_s: float = Field(0.0, ge=0)
    # Byte-identical regenerated chunks (README "Determinism"): per-request seeds and, on
    # a GPU, an in-process engine core. None: on for CPU engines (free there), off on a
    # GPU, where both cost throughput (docs/gpu-check.md).
    deterministic: bool | None = None
