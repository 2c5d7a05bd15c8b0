"""The five tool-models gates: good artifacts pass, each kind of bad data blocks."""

from __future__ import annotations

import json
from collections.abc import Callable

import pandas as pd
import pytest

from maga.config import GateThresholds
from maga.gates import GateFailed, GateResult, enforce, write_gate_result
from maga.gates.tool_models import (
    gate_ga_labels,
    gate_parity,
    gate_quantized,
    gate_sample,
    gate_sft,
)

TH = GateThresholds()  # sample_min_docs 16, ga_min_docs 8, sft_min_rows 20, ...
BOUNDS = {"min_chars": 200, "max_chars": 4000}


def sample_rows(n: int = 20) -> list[dict]:
    return [
        {"id": f"d{i}", "text": f"document {i} " * 30, "lang": "en", "n_chars": 330 + i,
         "length_bucket": "400", "split": "heldout" if i < 3 else "train"}
        for i in range(n)
    ]  # fmt: skip


def ga_rows(n: int = 12) -> list[dict]:
    pairs = [{"genre": f"genre {j}", "audience": f"audience {j}"} for j in range(5)]
    rows = [{"id": f"d{i}", "valid": True, "reject_reason": None, "pairs": [dict(p) for p in pairs]}
            for i in range(n)]  # fmt: skip
    rows.append({"id": "bad", "valid": False, "reject_reason": "not json", "pairs": []})
    return rows


def sft_rows(n: int = 40) -> list[dict]:
    scores = [3, 4, 5, 4, 2, 3, 5, 4, 1, None]
    rows = []
    for i in range(n):
        score = scores[i % len(scores)]
        rows.append({"id": f"r{i}", "source_id": f"d{i // 5}", "genre": "g", "audience": "a",
                     "text": "rewrite", "score": score, "kept": score is not None and score >= 3})  # fmt: skip
    return rows


def blocked(result: GateResult, *checks: str) -> None:
    assert not result.passed
    with pytest.raises(GateFailed) as info:
        enforce(result)
    for check in checks:
        assert check in str(info.value), str(info.value)
    failed = {c.name for c in result.checks if not c.passed and c.blocking}
    assert {c.split(":")[0] for c in checks} <= failed


def test_good_sample_passes() -> None:
    result = enforce(gate_sample(sample_rows(), TH, "var/sample.jsonl", **BOUNDS))
    assert {c.name for c in result.checks} >= {"rows", "id_unique", "split_values",
                                               "heldout_rows", "duplicate_text_share"}  # fmt: skip


def _set(i: int, **values) -> Callable[[list[dict]], list[dict]]:
    def change(rows: list[dict]) -> list[dict]:
        rows[i].update(values)
        return rows

    return change


@pytest.mark.parametrize(
    ("change", "check"),
    [
        (lambda rows: rows[:10], "rows"),
        (_set(5, id="d4"), "id_unique"),
        (_set(5, id=None), "id_not_null"),
        (_set(5, text=None), "text_not_null"),
        (_set(5, split="dev"), "split_values"),
        (_set(5, n_chars=0), "n_chars_positive"),
        (_set(5, n_chars=5000), "n_chars_in_bounds"),
        (lambda rows: [dict(r, split="train") for r in rows], "heldout_rows"),
        (_set(5, text="document 4 " * 30), "duplicate_text_share"),
    ],
)
def test_bad_sample_blocks(change: Callable, check: str) -> None:
    blocked(gate_sample(change(sample_rows()), TH, "var/sample.jsonl", **BOUNDS), check)


def test_sample_from_dataframe_and_empty_input() -> None:
    assert gate_sample(pd.DataFrame(sample_rows()), TH, "x", **BOUNDS).passed
    blocked(gate_sample([], TH, "x", **BOUNDS), "rows", "heldout_rows")


def test_good_labels_pass_and_invalid_rows_are_not_pair_checked() -> None:
    result = enforce(gate_ga_labels(ga_rows(), TH, "var/labels.jsonl", pairs_per_doc=5))
    assert {c.name: c.observed for c in result.checks}["valid_docs"] == 12


def _pairs(i: int, fn: Callable[[list[dict]], list[dict]]) -> Callable[[list[dict]], list[dict]]:
    def change(rows: list[dict]) -> list[dict]:
        rows[i]["pairs"] = fn(rows[i]["pairs"])
        return rows

    return change


@pytest.mark.parametrize(
    ("change", "check"),
    [
        (_pairs(2, lambda p: p[:4]), "pairs_per_doc"),
        (_pairs(2, lambda p: [*p[:4], dict(p[0])]), "duplicate_pairs"),
        (_pairs(2, lambda p: [{"genre": " ", "audience": "x"}, *p[1:]]), "empty_genre_or_audience"),
        (_pairs(2, lambda p: [{"audience": "x"}, *p[1:]]), "empty_genre_or_audience"),
        (lambda rows: rows[:5], "valid_docs"),
        (lambda rows: [dict(r, valid=i % 3 == 0) for i, r in enumerate(rows)], "valid_share"),
    ],
)
def test_bad_labels_block(change: Callable, check: str) -> None:
    blocked(gate_ga_labels(change(ga_rows()), TH, "x", pairs_per_doc=5), check)


def test_labels_respect_pairs_per_doc() -> None:
    blocked(gate_ga_labels(ga_rows(), TH, "x", pairs_per_doc=3), "pairs_per_doc")


def test_good_sft_passes_with_histogram_warning_only() -> None:
    result = enforce(gate_sft(sft_rows(), TH, "var/judged.jsonl", keep_threshold=3))
    hist = {c.name: c for c in result.checks}["score_histogram"]
    assert hist.observed == {"1": 4, "2": 4, "3": 8, "4": 12, "5": 8, "unparsed": 4}
    assert not hist.passed and not hist.blocking and result.reason == ""


@pytest.mark.parametrize(
    ("change", "check"),
    [
        (lambda rows: rows[:20], "kept_train_rows"),
        (
            lambda rows: [
                dict(r, split="heldout" if i < 30 else "train") for i, r in enumerate(rows)
            ],
            "kept_train_rows",
        ),  # kept, but held out: nothing left to train on
        (
            lambda rows: [
                dict(r, score=1 if i % 2 else r["score"], kept=r["kept"] and i % 2 == 0)
                for i, r in enumerate(rows)
            ],
            "low_score_share",
        ),  # fmt: skip
        (lambda rows: rows + [dict(rows[4], id=f"x{i}") for i in range(60)], "kept_share"),
        (_set(0, score=7), "score_range"),
        (_set(4, kept=True), "kept_matches_threshold"),
    ],
)
def test_bad_sft_blocks(change: Callable, check: str) -> None:
    blocked(gate_sft(change(sft_rows()), TH, "x", keep_threshold=3), check)


PARITY = {"teacher_share_ge3": 0.93, "slm_share_ge3": 0.92, "ga_slm_json_valid": 0.9}
QUANT = {"share_ge3_before": 0.92, "share_ge3_after": 0.9, "ga_json_valid_before": 0.9,
         "ga_json_valid_after": 0.88}  # fmt: skip


def test_good_parity_and_quantized_pass() -> None:
    enforce(gate_parity(PARITY, TH, "var/table1.json"))
    enforce(gate_quantized(QUANT, TH, "var/comparison.json"))
    # exactly at the threshold passes despite float error (0.8 - 0.7 > 0.1 in floats)
    enforce(gate_parity(dict(PARITY, teacher_share_ge3=0.8, slm_share_ge3=0.7), TH, "x"))


@pytest.mark.parametrize(
    ("change", "check"),
    [
        ({"slm_share_ge3": 0.6}, "share_ge3_gap"),
        ({"ga_slm_json_valid": 0.2}, "ga_slm_json_valid"),
        ({"slm_share_ge3": 1.4}, "slm_share_ge3_is_share"),
        ({"slm_share_ge3": None}, "share_ge3_gap"),
    ],
)
def test_bad_parity_blocks(change: dict, check: str) -> None:
    blocked(gate_parity(dict(PARITY, **change), TH, "x"), check)


@pytest.mark.parametrize(
    ("change", "check"),
    [
        ({"share_ge3_after": 0.7}, "share_ge3_drop"),
        ({"ga_json_valid_after": 0.5}, "ga_json_valid_drop"),
        ({"ga_json_valid_after": "n/a"}, "ga_json_valid_drop: no value"),
    ],
)
def test_bad_quantized_blocks(change: dict, check: str) -> None:
    blocked(gate_quantized(dict(QUANT, **change), TH, "x"), check)


def test_gate_files_beside_the_artifact(tmp_path) -> None:
    result = gate_sft(sft_rows()[:10], TH, str(tmp_path / "judged.jsonl"), keep_threshold=3)
    write_gate_result(result, tmp_path)
    assert GateResult.from_dict(json.loads((tmp_path / "gate.json").read_text())) == result
    md = (tmp_path / "gate.md").read_text()
    assert "FAILED" in md and "kept_train_rows" in md.split("| pass |")[0]
