"""The collapse gate (the paper's Table 3 lesson): a collapsing prompt shows up as many
rewrites judged <= 2 (60% for SLM-Relaxed vs 7% for SLM-Base) and as synthetic
embeddings that leave the source distribution, while validation loss does not notice.

- ``low_score_share``: share of scored rewrites judged <= 2, at most the profile's
  ``report.collapse_max_low_share``;
- ``embedding_shift``: 1 - mean cosine similarity of each synthetic document to its
  nearest source document, at most ``report.collapse_max_embedding_shift``;
- ``embedding_coverage``: share of sources with a synthetic document inside their
  k-nearest-neighbour ball, at least ``report.collapse_min_coverage``.

The numbers are measured by :mod:`maga.report.collapse`.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from maga.config import ReportConfig
from maga.gates.core import GateResult, Metric, run_gate

GATE = "collapse"
CHECKS = ("low_score_share", "embedding_shift", "embedding_coverage")


def gate_collapse(
    metrics: Mapping[str, Any],
    thresholds: ReportConfig,
    artifact_uri: str,
    *,
    skip_missing: bool = False,
) -> GateResult:
    """Validate the collapse metrics; a missing value fails its check unless
    ``skip_missing`` (the report's preview of a run that has no such input)."""
    checks = {
        "low_score_share": Metric.limit(metrics.get("low_score_share"), thresholds,
                                        "collapse_max_low_share", "<="),
        "embedding_shift": Metric.limit(metrics.get("embedding_shift"), thresholds,
                                        "collapse_max_embedding_shift", "<="),
        "embedding_coverage": Metric.limit(metrics.get("embedding_coverage"), thresholds,
                                           "collapse_min_coverage", ">="),
    }  # fmt: skip
    if skip_missing:
        checks = {k: m for k, m in checks.items() if m.observed is not None}
    return run_gate(GATE, artifact_uri, None, [], checks)
