"""Collapse early warning, measured: the judge's low-score share and how far the
synthetic documents' embeddings drift from the sources'. The gate that judges these
numbers is :mod:`maga.gates.collapse`.

The checks and why they matter are described in :mod:`maga.gates.collapse`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from maga.gates.collapse import gate_collapse
from maga.log import get_logger
from maga.report.metrics import score_counts, score_shares

if TYPE_CHECKING:
    from maga.gates.core import GateResult
    from maga.report.data import RunData
    from maga.report.embeddings import EmbeddingView
    from maga.runs.context import RunContext

log = get_logger("report.collapse")


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


def compute_collapse(ctx: RunContext) -> GateResult:
    """The collapse gate's verdict for a run: embeddings and judge scores of its data."""
    from maga.report.data import load_run
    from maga.report.embeddings import run_embeddings

    data = load_run(ctx.run_uri, ctx.storage)
    metrics = collapse_metrics(data, run_embeddings(data))
    return gate_collapse(metrics, ctx.config.report, artifact_uri(data))


def artifact_uri(data: RunData) -> str:
    """The file the gate judged: the synthetic documents' origin in the run folder."""
    origin = (data.synthetic_origin or "").split(" ")[0]
    if origin.endswith((".jsonl", ".json")):
        return f"{data.run_uri}/{origin}"
    return data.run_uri
