"""Mean and spread over seeds, the verdict rule ("no difference" inside the spread),
the data-efficiency multiplier read off the repetition curve, and the gate."""

from __future__ import annotations

import math

import pytest

from maga.config import MixEvalGate
from maga.mixeval import results

pytestmark = [pytest.mark.timeout(30)]


def _runs(values: dict[str, list[float]]) -> dict:
    return {arm: [{"seed": i + 1, "loss": {"all": v}} for i, v in enumerate(vals)]
            for arm, vals in values.items()}  # fmt: skip


def test_a_difference_inside_the_spread_is_no_difference():
    table = results.table(_runs({"repetition": [5.0, 5.2], "maga_mix": [4.9, 5.1],
                                 "upsample": [4.7, 4.8], "noise": [5.3, 5.4]}))  # fmt: skip
    assert table["maga_mix"]["all"]["vs_repetition"] == "no difference"  # lower mean, overlaps
    assert table["upsample"]["all"]["vs_repetition"] == "better"
    assert table["noise"]["all"]["vs_repetition"] == "worse"
    assert table["repetition"]["all"]["spread"] == pytest.approx(0.2)


def test_multiplier_read_off_the_log_curve():
    a, b = 6.0, 0.5  # loss = a - b ln k, exactly, at both seeds
    curve = {results.curve_arm(k): [a - b * math.log(k)] * 2 for k in (1, 2, 4)}
    mix = a - b * math.log(3.0)
    eff = results.efficiency(_runs({**curve, "maga_mix": [mix, mix]}), [1, 2, 4], ["maga_mix"])
    entry = eff["recipes"]["maga_mix"]
    assert entry["multiplier"] == pytest.approx(3.0, rel=1e-3) and not entry["notes"]
    assert eff["fit"]["1"] == {"a": pytest.approx(a), "b": pytest.approx(b)}


def test_multiplier_states_extrapolation_and_a_flat_curve():
    curve = {results.curve_arm(k): [6.0 - 0.5 * math.log(k)] for k in (1, 2, 4)}
    eff = results.efficiency(_runs({**curve, "maga_mix": [4.0]}), [1, 2, 4], ["maga_mix"])
    assert eff["recipes"]["maga_mix"]["multiplier"] > 4
    assert "extrapolated" in eff["recipes"]["maga_mix"]["notes"][0]
    flat = {results.curve_arm(k): [6.0 + 0.1 * math.log(k)] for k in (1, 2, 4)}
    eff = results.efficiency(_runs({**flat, "maga_mix": [5.9]}), [1, 2, 4], ["maga_mix"])
    assert "multiplier" not in eff["recipes"]["maga_mix"]
    assert "undefined" in eff["recipes"]["maga_mix"]["notes"][0]
    assert not results.efficiency(_runs({"repetition": [5.0]}), [1, 2], [])["available"]


def test_gate_blocks_only_when_enabled():
    table = results.table(_runs({"repetition": [5.0, 5.0], "maga_mix": [5.1, 5.1]}))
    on = results.gate(MixEvalGate(enabled=True, max_loss_gap=0.05), table)
    assert not on["passed"] and on["observed"] == pytest.approx(0.1)
    off = results.gate(MixEvalGate(enabled=False, max_loss_gap=0.05, reason="demo"), table)
    assert off["passed"] and not off["would_pass"] and "advisory (gate off: demo)" in off["reason"]
    loose = results.gate(MixEvalGate(enabled=True, max_loss_gap=0.2), table)
    assert loose["passed"]


def test_megadoc_forms_are_judged_against_the_plain_rewrites():
    table = results.table(_runs({"repetition": [5.0, 5.1], "maga_mix_documents": [4.8, 4.9],
                                 "maga_mix_stitch": [4.5, 4.6], "maga_mix_stretch": [4.85, 5.0]}))  # fmt: skip
    stitch, stretch = table["maga_mix_stitch"]["all"], table["maga_mix_stretch"]["all"]
    assert stitch["vs_documents"] == "better" and stitch["gap_vs_documents"] == pytest.approx(-0.3)
    assert stretch["vs_documents"] == "no difference"  # ranges overlap
    assert "vs_documents" not in table["maga_mix_documents"]["all"]
    alone = results.table(_runs({"repetition": [5.0, 5.1], "maga_mix_stitch": [4.5, 4.6]}))
    assert "vs_documents" not in alone["maga_mix_stitch"]["all"]  # nothing to compare with


def test_the_same_mix_under_two_names_is_trained_once():
    from maga.mixeval.plan import same_mixes

    mix = {"recipe": "maga_mix", "components": [{"name": "real", "data_files": ["r"]},
           {"name": "synthetic", "data_files": ["s"]}], "probabilities": [0.5, 0.5],
           "seed": 1, "sampling": "stratified", "num_rows": 10}  # fmt: skip
    docs = {**mix, "components": [mix["components"][0],
                                  {"name": "synthetic", "data_files": ["g"]}]}  # fmt: skip
    arms = {"maga_mix_stitch": {**mix, "recipe": "maga_mix_stitch"}, "maga_mix": mix,
            "maga_mix_documents": docs}  # fmt: skip
    assert same_mixes(arms) == {"maga_mix_stitch": "maga_mix"}
