"""``refresh.hygiene``: language ID, near-duplicates, decontamination, PII placeholders
and the cost plan of a corpus refresh (maga.hygiene).
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field, field_validator

from maga.config.base import _Strict


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
