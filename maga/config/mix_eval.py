"""``mix_eval``: proxy-training evaluation of every published training mix
(``maga_mix_eval``, maga.mixeval).
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field, field_validator, model_validator

from maga.config.base import _Strict
from maga.config.refresh import MixArm


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
