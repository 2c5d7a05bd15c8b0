"""Mixture plans: token targets, epochs and row probabilities of each recipe."""

from __future__ import annotations

import pytest

from maga.config import MixConfig
from maga.mix.plan import Component, MixError, plan_recipe

COMPS = {
    "real": Component("real", ["s.parquet"], rows=100, tokens=10_000),
    "real_expanded": Component(
        "real_expanded", ["s.parquet"], rows=40, tokens=5_000, where={"expanded": True}
    ),
    "synthetic": Component("synthetic", ["d.parquet"], rows=200, tokens=30_000),
}


def by_name(mix):
    return {p["name"]: p for p in mix["components"]}


def test_maga_mix_default_budget_is_everything_once():
    mix = plan_recipe("maga_mix", MixConfig(synthetic_share=0.75), COMPS)
    assert mix["token_budget"] == 40_000
    p = by_name(mix)
    assert p["real"]["epochs"] == 1.0 and p["synthetic"]["epochs"] == 1.0
    assert p["synthetic"]["token_share"] == 0.75
    assert p["real"]["probability"] == pytest.approx(100 / 300)
    assert mix["num_rows"] == 300 and mix["sampling"] == "stratified"


def test_baselines_at_a_fixed_budget():
    cfg = MixConfig(token_budget=100_000, synthetic_share=0.5)
    rep = by_name(plan_recipe("repetition", cfg, COMPS))
    assert list(rep) == ["real"] and rep["real"]["epochs"] == 10.0
    up = plan_recipe("upsample", cfg, COMPS)
    p = by_name(up)
    assert p["real"]["epochs"] == 5.0 and p["real_expanded"]["epochs"] == 10.0
    assert p["real_expanded"]["where"] == {"expanded": True}
    # rows: 500 real + 400 expanded; probabilities are row shares
    assert up["num_rows"] == 900 and p["real"]["probability"] == pytest.approx(5 / 9)
    assert sum(x["probability"] for x in up["components"]) == pytest.approx(1.0)


def test_an_empty_component_is_named():
    empty = {**COMPS, "synthetic": Component("synthetic", [], 0, 0)}
    with pytest.raises(MixError, match="'synthetic' is empty"):
        plan_recipe("maga_mix", MixConfig(), empty)
    with pytest.raises(ValueError, match="twice"):
        MixConfig(recipes=["maga_mix", "maga_mix"])
