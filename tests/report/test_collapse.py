"""The collapse early-warning gate: thresholds from the profile, which check crossed,
and the DAG task that records it and blocks."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from maga.config import CONFIG_DIR, ReportConfig, load_config
from maga.gates.collapse import gate_collapse
from maga.gates.core import GateFailed
from maga.pipelines.tool_models import run_step

# The paper's Table 3 shares judged <= 2 with embeddings that stay close (Base) or drift.
BASE = {"low_score_share": 0.0665, "embedding_shift": 0.35, "embedding_coverage": 0.8}
RELAXED = {"low_score_share": 0.6019, "embedding_shift": 0.35, "embedding_coverage": 0.8}
DRIFT = {"low_score_share": 0.05, "embedding_shift": 0.75, "embedding_coverage": 0.2}


def test_base_prompt_passes_and_relaxed_prompt_is_blocked_by_the_low_share() -> None:
    cfg = ReportConfig()
    assert gate_collapse(BASE, cfg, "x").passed
    relaxed = gate_collapse(RELAXED, cfg, "x")
    assert not relaxed.passed
    assert relaxed.reason == "collapse: low_score_share 0.6019 > 0.3"
    failed = {c.name for c in relaxed.checks if not c.passed}
    assert failed == {"low_score_share"}


def test_embedding_drift_alone_blocks_and_the_reason_names_both_checks() -> None:
    result = gate_collapse(DRIFT, ReportConfig(), "x")
    assert not result.passed
    assert "embedding_shift 0.75 > 0.6" in result.reason
    assert "embedding_coverage 0.2 < 0.5" in result.reason
    assert "low_score_share" not in result.reason


def test_profile_thresholds_apply_and_missing_inputs_fail_unless_previewing() -> None:
    loose = ReportConfig(collapse_max_low_share=0.7, collapse_max_embedding_shift=0.9,
                         collapse_min_coverage=0.1)  # fmt: skip
    assert gate_collapse(RELAXED, loose, "x").passed
    partial = {"low_score_share": 0.1, "embedding_shift": None, "embedding_coverage": None}
    assert not gate_collapse(partial, ReportConfig(), "x").passed  # the DAG gate is strict
    preview = gate_collapse(partial, ReportConfig(), "x", skip_missing=True)
    assert preview.passed and [c.name for c in preview.checks] == ["low_score_share"]


def test_every_profile_loads_with_report_defaults() -> None:
    for path in sorted(CONFIG_DIR.glob("*.yaml")):
        cfg = load_config(path.stem)
        assert 0 <= cfg.report.collapse_max_low_share <= 1, path
    cfg = load_config("tiny", ["report.collapse_max_low_share=0.9", "report.projection=pca"])
    assert cfg.report.collapse_max_low_share == 0.9 and cfg.report.projection == "pca"


def test_dag_task_records_the_gate_refreshes_the_summary_and_blocks(try1_run: Path) -> None:
    from maga.runs.context import RunContext

    ctx = RunContext.from_run_uri(str(try1_run), "maga_tool_models", "try1")
    assert ctx.run_uri == str(try1_run)
    with pytest.raises(GateFailed, match="embedding_shift"):  # random-model text drifts
        run_step(ctx, "gate_collapse")
    gate = json.loads((try1_run / "gates" / "collapse" / "gate.json").read_text())
    assert not gate["passed"] and {c["name"] for c in gate["checks"]} == {
        "low_score_share", "embedding_shift", "embedding_coverage"}  # fmt: skip
    summary = json.loads((try1_run / "summary.json").read_text())
    assert summary["gates"]["collapse"]["passed"] is False
    assert (try1_run / "gates" / "collapse" / "gate.md").exists()
