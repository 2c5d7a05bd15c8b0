"""``refresh``: the corpus refresh (``maga_corpus_refresh``): cleaning, output forms
(megadocs, stretch), the training-mix export and the reviews a person answers.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field, field_validator, model_validator

from maga.config.base import _Strict
from maga.config.gates import RefreshGateThresholds
from maga.config.hygiene import HygieneConfig


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
