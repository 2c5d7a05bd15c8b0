"""Collapse early warning: a gate on the judge's low-score share and on how far the
synthetic documents' embeddings drift from the sources'.

The paper's lesson (Table 3): a collapsing prompt shows up as many rewrites judged
<= 2 (60% for SLM-Relaxed vs 7% for SLM-Base) and as synthetic embeddings that leave
the source distribution, while validation loss does not notice. Three checks:

- ``low_score_share``: share of scored rewrites judged <= 2, at most the profile's
  ``report.collapse_max_low_share``;
- ``embedding_shift``: 1 - mean cosine similarity of each synthetic document to its
  nearest source document, at most ``report.collapse_max_embedding_shift``;
- ``embedding_coverage``: share of sources with a synthetic document inside their
  k-nearest-neighbour ball, at least ``report.collapse_min_coverage``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from maga.config import ReportConfig
from maga.gates.core import GateResult, Metric, run_gate
from maga.log import get_logger
from maga.report.metrics import score_counts, score_shares

if TYPE_CHECKING:
    from maga.report.data import RunData
    from maga.report.embeddings import EmbeddingView
    from maga.runs.context import RunContext

log = get_logger("report.collapse")

GATE = "collapse"
CHECKS = ("low_score_share", "embedding_shift", "embedding_coverage")


def scored_counts(data: RunData) -> tuple[str, dict[str, int]]:
    """Which judge scores the gate reads, and their counts per score: the run's synthetic
    documents when they are scored, else the first judged set (teacher rewrites in the
    tool-models DAG), else a recorded histogram (the corpus refresh's judged sample)."""
    if data.synthetic and any(r.get("score") is not None for r in data.synthetic):
        rows = data.synthetic
        return data.synthetic_origin or "synthetic", score_counts(r.get("score") for r in rows)
    for role, rows in data.judged.items():
        return role, score_counts(r.get("score") for r in rows)
    for label, counts in data.score_hists.items():
        return label, counts
    return "", {}


def collapse_metrics(data: RunData, view: EmbeddingView | None) -> dict[str, float | None]:
    """The three observed values; None where the run lacks the input."""
    _, counts = scored_counts(data)
    shares = score_shares(counts) if counts else {}
    return {
        "low_score_share": shares.get("le2"),
        "embedding_shift": view.overlap.shift if view else None,
        "embedding_coverage": view.overlap.coverage if view else None,
    }


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
        "low_score_share": Metric(metrics.get("low_score_share"),
                                  thresholds.collapse_max_low_share, "<="),
        "embedding_shift": Metric(metrics.get("embedding_shift"),
                                  thresholds.collapse_max_embedding_shift, "<="),
        "embedding_coverage": Metric(metrics.get("embedding_coverage"),
                                     thresholds.collapse_min_coverage, ">="),
    }  # fmt: skip
    if skip_missing:
        checks = {k: m for k, m in checks.items() if m.observed is not None}
    return run_gate(GATE, artifact_uri, None, [], checks)


def run_collapse_gate(ctx: RunContext) -> dict[str, Any]:
    """The DAG task: compute the metrics for a run, write ``gates/collapse/gate.json``
    and ``gate.md``, refresh the summary, and raise ``GateFailed`` when a check fails."""
    from maga.gates.core import enforce, write_gate_result
    from maga.report.data import load_run
    from maga.report.embeddings import run_embeddings
    from maga.runs.summary import refresh_summary

    data = load_run(ctx.run_uri, ctx.storage)
    view = run_embeddings(data)
    metrics = collapse_metrics(data, view)
    result = gate_collapse(metrics, ctx.config.report, artifact_uri(data))
    write_gate_result(result, ctx.uri("gates", GATE), storage=ctx.storage)
    refresh_summary(ctx)
    enforce(result)
    return result.to_dict()


def artifact_uri(data: RunData) -> str:
    """The file the gate judged: the synthetic documents' origin in the run folder."""
    origin = (data.synthetic_origin or "").split(" ")[0]
    if origin.endswith((".jsonl", ".json")):
        return f"{data.run_uri}/{origin}"
    return data.run_uri
