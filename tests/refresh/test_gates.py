"""The refresh gates block what they should: a drift toward "Relaxed" (many judge scores
<= 2), low kept share, small expansion, malformed rows; judging off drops the score checks."""

from __future__ import annotations

import pandas as pd

from maga.config import load_config
from maga.refresh.gates import gate_aggregate, gate_input, gate_output

CFG = load_config("gpu").refresh  # real thresholds: kept >= 0.6, <=2 share <= 0.2, x >= 2


def frame(n: int = 4, **changes) -> pd.DataFrame:
    rows = [
        {
            "id": f"d#{i}",
            "source_id": "d",
            "genre": "g",
            "audience": "a",
            "prompt_variant": "base",
            "tool_model_version": 3,
            "text": "t" * 300,
            "n_chars": 300,
            "output_mode": "documents",
        }
        for i in range(n)
    ]
    df = pd.DataFrame(rows)
    for col, value in changes.items():
        df.loc[0, col] = value
    return df


def totals(**changes) -> dict:
    base = {
        "kept": 80,
        "generated": 100,
        "output_chars": 30_000,
        "input_chars": 10_000,
        "judge_requested": 50,
        "judged": 50,
        "low_scores": 5,
        "duplicate_ids": 0,
    }
    return {**base, **changes}


def run(df=None, t=None):
    return gate_output(
        frame() if df is None else df,
        t or totals(),
        CFG,
        "k",
        "uri",
        prompt_variant="base",
        tool_model_version=3,
        min_chars=200,
    )


def test_healthy_shard_passes():
    assert run().passed


def test_relaxed_drift_blocks():
    # Table 3: the Relaxed prompt had 60% of scores <= 2
    result = run(t=totals(low_scores=30))
    assert not result.passed and "low_score_share 0.6 > 0.2" in result.reason


def test_low_kept_share_and_small_expansion_block():
    result = run(t=totals(kept=30, output_chars=15_000))
    assert "kept_share 0.3 < 0.6" in result.reason
    assert "expansion_ratio 1.5 < 2" in result.reason


def test_malformed_rows_block():
    result = run(df=frame(tool_model_version=2, text=None, n_chars=10))
    failed = {c.name for c in result.checks if not c.passed}
    assert {"tool_model_version", "text_not_null", "text_min_chars"} <= failed
    dup = run(df=frame(id="d#1"), t=totals(duplicate_ids=1))
    assert {"id_unique", "duplicate_ids"} <= {c.name for c in dup.checks if not c.passed}


def test_without_judging_no_score_checks():
    result = run(t=totals(judge_requested=0, judged=0, low_scores=0))
    assert result.passed and "low_score_share" not in {c.name for c in result.checks}


def test_input_and_aggregate_gates():
    assert gate_input({"records": 100, "quarantined": 4, "accepted": 96}, CFG, "k", "u").passed
    bad = gate_input({"records": 100, "quarantined": 6, "accepted": 94}, CFG, "k", "u")
    assert "bad_record_share 0.06 > 0.05" in bad.reason
    # gpu: the share applies from 3 bad records; 2 of 5 (40 %) only warns
    few = gate_input({"records": 5, "quarantined": 2, "accepted": 3}, CFG, "k", "u")
    assert few.passed and [c.name for c in few.warnings] == ["bad_record_share"]
    three = gate_input({"records": 5, "quarantined": 3, "accepted": 2}, CFG, "k", "u")
    assert "bad_record_share 0.6 > 0.05" in three.reason
    assert gate_aggregate(totals(), CFG, "out").passed
    assert not gate_aggregate(totals(kept=0, output_chars=0), CFG, "out").passed
