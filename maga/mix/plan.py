"""Mixture plans: components, token targets and sampling weights of each recipe.

Components (all from the published corpus, see :mod:`maga.refresh.layout`):

* ``real``: every accepted source document of the published shards (``source/``);
* ``real_expanded``: those of them that got at least one kept generation;
* ``synthetic``: the published rows (``data/``), in whatever output mode made them.

Recipes, at a token budget ``B`` (``refresh.mix.token_budget``; 0 means every real and
synthetic token once) and a synthetic share ``s`` (``refresh.mix.synthetic_share``):

* ``maga_mix``: real ``(1-s)B`` plus synthetic ``sB`` (the paper's MAGA-Mix);
* ``repetition``: real data alone, repeated to ``B``;
* ``upsample``: real ``(1-s)B`` plus the expanded sources, repeated, for the ``sB`` the
  synthetic data gets in MAGA-Mix: same budget and same weight on the same sources, with
  no new text, which isolates what the rewrites add.

A component's ``epochs`` is its target over the tokens it holds; its sampling
probability is its expected share of rows (target tokens over mean tokens per row), so
interleaving rows at those probabilities yields the declared token shares in
expectation.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from maga.config import MixConfig

DEFINITIONS = {
    "maga_mix": "real and synthetic data at the configured synthetic share (MAGA-Mix)",
    "repetition": "real data only, repeated to the token budget",
    "upsample": "real data plus the expanded sources repeated for the synthetic share",
}


class MixError(ValueError):
    """A recipe that cannot be built from what is published; the message says why."""


@dataclass(frozen=True)
class Component:
    name: str
    files: list[str]
    rows: int
    tokens: int
    where: dict[str, Any] | None = None  # row filter the loader applies (column: value)


def _targets(recipe: str, budget: int, share: float) -> dict[str, float]:
    if recipe == "maga_mix":
        return {"real": (1 - share) * budget, "synthetic": share * budget}
    if recipe == "repetition":
        return {"real": float(budget)}
    if recipe == "upsample":
        return {"real": (1 - share) * budget, "real_expanded": share * budget}
    raise MixError(f"unknown recipe {recipe!r}")


def budget_of(cfg: MixConfig, components: dict[str, Component]) -> int:
    if cfg.token_budget:
        return cfg.token_budget
    return components["real"].tokens + components["synthetic"].tokens


def plan_recipe(recipe: str, cfg: MixConfig, components: dict[str, Component]) -> dict[str, Any]:
    """The mixture of one recipe; raises MixError when a component it needs is empty."""
    budget = budget_of(cfg, components)
    targets = _targets(recipe, budget, cfg.synthetic_share)
    parts, expected_rows = [], {}
    for name, target in targets.items():
        comp = components[name]
        if comp.rows <= 0 or comp.tokens <= 0:
            raise MixError(f"{recipe}: component {name!r} is empty (no published rows)")
        epochs = target / comp.tokens
        expected_rows[name] = epochs * comp.rows
        parts.append({"name": name, "files": comp.files, "where": comp.where,
                      "rows": comp.rows, "tokens": comp.tokens,
                      "mean_tokens_per_row": round(comp.tokens / comp.rows, 3),
                      "target_tokens": round(target), "epochs": round(epochs, 6),
                      "token_share": round(target / budget, 6)})  # fmt: skip
    total_rows = sum(expected_rows.values())
    for part in parts:
        part["probability"] = expected_rows[part["name"]] / total_rows
        part["expected_rows"] = round(expected_rows[part["name"]])
    return {"recipe": recipe, "definition": DEFINITIONS[recipe], "token_budget": budget,
            "synthetic_share": cfg.synthetic_share if recipe != "repetition" else 0.0,
            "num_rows": max(1, round(total_rows)), "seed": cfg.seed, "sampling": cfg.sampling,
            "components": parts}  # fmt: skip
