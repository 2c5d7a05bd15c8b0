"""Gate thresholds: the tool-models pipeline's (``gates``), the data-quality report's
collapse warnings (``report``), and the corpus refresh's (``refresh.gates``).
"""

from __future__ import annotations

from typing import ClassVar, Literal

from pydantic import Field

from maga.config.base import _Thresholds


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
