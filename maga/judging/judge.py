"""Limited Consistency judging: a score 1-5 and a short reason for every rewrite,
the score constrained by structured outputs. Shared by the teacher stage and the
SLM evaluations (Table 1)."""

from __future__ import annotations

from collections import Counter
from typing import Any

from maga.config import MagaConfig
from maga.llm.jobs import JobOutcome, run_generation
from maga.llm.kept import generate_kept
from maga.llm.models import teacher_spec
from maga.operations import JUDGE, truncate
from maga.storage import Storage


def judge_rewrites(
    cfg: MagaConfig,
    sources: dict[str, str],
    items: list[dict[str, Any]],
    label: str = "judge",
    keep: tuple[Storage, str] | None = None,
) -> tuple[list[dict[str, Any]], JobOutcome]:
    """Return items with the judge's fields (``score``, None if unparseable,
    ``judge_reason``, ``judge_reject``) and ``kept``. ``keep``: (storage, folder) to
    keep finished chunks of judgements in (:func:`maga.llm.kept.generate_kept`)."""
    requests = []
    for it in items:
        source, _ = truncate(sources[it["source_id"]], cfg.generation.max_input_chars)
        requests.append(JUDGE.request(cfg, f"{label}:{it['id']}", source, it))
    spec = teacher_spec(cfg)
    spec.label = f"teacher-{label}"
    outcome = (generate_kept(*keep, spec, requests, deterministic=cfg.runner.deterministic)
               if keep else run_generation(spec, requests))  # fmt: skip
    judged = []
    for it, res in zip(items, outcome.results, strict=True):
        fields = JUDGE.row(res)
        score = fields["score"]
        kept = score is not None and score >= cfg.judge.keep_threshold
        judged.append({**it, **fields, "kept": kept})
    return judged, outcome


def score_histogram(rows: list[dict[str, Any]]) -> dict[str, int]:
    counts = Counter(r["score"] for r in rows)
    hist = {str(s): counts.get(s, 0) for s in range(1, 6)}
    hist["unparsed"] = counts.get(None, 0)
    return hist


def share_at_least(rows: list[dict[str, Any]], threshold: int) -> float:
    """Share of rows judged >= threshold; unparsed judgements count as failures."""
    if not rows:
        return 0.0
    return sum(1 for r in rows if r["score"] is not None and r["score"] >= threshold) / len(rows)
