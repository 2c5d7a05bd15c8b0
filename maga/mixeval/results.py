"""From per-seed losses to what the evaluation says: mean and spread per arm, the
verdict against repetition, the data-efficiency multiplier and the gate.

* **spread**: the range (max - min) over seeds. Two arms differ only when their seed
  ranges do not overlap; otherwise the verdict is "no difference", never a win.
* **data efficiency** (arXiv 2603.18534's sense): the repetition baseline at 1x, 2x, 4x
  the real tokens (the 1x point is the ``repetition`` recipe; 2x/4x add fresh real
  documents) gives, per seed, a fit ``loss = a - b ln(k)``; a recipe's loss ``L`` reads
  off as ``k* = exp((a - L) / b)`` equivalent real tokens per real token. The figure is
  the mean over seeds with its range; outside the measured multiples it is marked as
  extrapolated, and with a curve that does not fall (``b <= 0``) it is undefined.
* **output forms** (arXiv 2603.18534): when the corpus holds more than one, the
  stitched and stretched megadoc mixes also get a verdict against the mix of plain
  rewrites (``maga_mix_documents``), by the same rule.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from maga.config import MixEvalGate

BASELINE = "repetition"
DOCUMENTS = "maga_mix_documents"  # the rewrites as separate documents (maga.mix.forms)
MEGADOCS = ("maga_mix_stitch", "maga_mix_stretch")


def curve_arm(multiple: int) -> str:
    return BASELINE if multiple == 1 else f"{BASELINE}_x{multiple}"


def stats(losses: list[float]) -> dict[str, Any]:
    arr = np.asarray(losses, dtype=float)
    return {"mean": round(float(arr.mean()), 5), "min": round(float(arr.min()), 5),
            "max": round(float(arr.max()), 5), "spread": round(float(np.ptp(arr)), 5),
            "seeds": len(arr)}  # fmt: skip


def verdict(arm: dict[str, Any], base: dict[str, Any]) -> str:
    """``better``/``worse`` than the baseline only beyond both seed ranges."""
    if arm["max"] < base["min"]:
        return "better"
    if arm["min"] > base["max"]:
        return "worse"
    return "no difference"


def table(runs: dict[str, list[dict[str, Any]]]) -> dict[str, Any]:
    """Per arm and held-out group: mean/min/max/spread over seeds, and the verdict of
    the overall loss against repetition."""
    out: dict[str, Any] = {}
    for arm, seeds in runs.items():
        groups = sorted({g for s in seeds for g in s["loss"]})
        out[arm] = {g: stats([s["loss"][g] for s in seeds if s["loss"].get(g) is not None])
                    for g in groups if any(s["loss"].get(g) is not None for s in seeds)}  # fmt: skip
    base = out.get(BASELINE, {}).get("all")
    for arm, groups in out.items():
        if base and arm != BASELINE and "all" in groups:
            groups["all"]["vs_repetition"] = verdict(groups["all"], base)
            groups["all"]["gap_vs_repetition"] = round(groups["all"]["mean"] - base["mean"], 5)
    docs = out.get(DOCUMENTS, {}).get("all")
    for arm in MEGADOCS:  # megadocs against the same budget of plain rewrites
        if docs and "all" in out.get(arm, {}):
            cell = out[arm]["all"]
            cell["vs_documents"] = verdict(cell, docs)
            cell["gap_vs_documents"] = round(cell["mean"] - docs["mean"], 5)
    return out


def _fit(points: list[tuple[float, float]]) -> tuple[float, float]:
    """Least squares ``loss = a - b ln(k)``."""
    x = np.log([k for k, _ in points])
    y = np.asarray([loss for _, loss in points])
    slope, intercept = np.polyfit(x, y, 1)
    return float(intercept), float(-slope)


def efficiency(runs: dict[str, list[dict[str, Any]]], multiples: list[int],
               recipes: list[str]) -> dict[str, Any]:  # fmt: skip
    """The baseline curve per seed and each recipe's multiplier read off it."""
    curve = {m: {s["seed"]: s["loss"]["all"] for s in runs.get(curve_arm(m), [])}
             for m in multiples}  # fmt: skip
    seeds = sorted(set.intersection(*(set(v) for v in curve.values()))) if curve else []
    if len(seeds) < 1 or any(not v for v in curve.values()):
        return {"available": False, "reason": "the repetition baseline curve is incomplete "
                f"(needs {', '.join(curve_arm(m) for m in multiples)})"}  # fmt: skip
    fits = {s: _fit([(m, curve[m][s]) for m in multiples]) for s in seeds}
    out: dict[str, Any] = {
        "available": True, "multiples": multiples, "seeds": seeds,
        "curve": {str(m): stats([curve[m][s] for s in seeds]) for m in multiples},
        "fit": {str(s): {"a": round(a, 5), "b": round(b, 5)} for s, (a, b) in fits.items()},
        "form": "loss = a - b * ln(real tokens / real tokens at 1x), per seed",
        "recipes": {},
    }  # fmt: skip
    for recipe in recipes:
        per_seed = {s["seed"]: s["loss"]["all"] for s in runs.get(recipe, [])}
        values, notes = [], set()
        for s in seeds:
            a, b = fits[s]
            if s not in per_seed:
                continue
            if b <= 0:
                notes.add("undefined: the baseline loss does not fall with more real tokens")
                continue
            k = math.exp((a - per_seed[s]) / b)
            if k < multiples[0] or k > multiples[-1]:
                notes.add(f"extrapolated beyond the measured {multiples[0]}x-{multiples[-1]}x")
            values.append(k)
        entry: dict[str, Any] = {"notes": sorted(notes)}
        if values:
            entry.update({"multiplier": round(float(np.mean(values)), 3),
                          "min": round(min(values), 3), "max": round(max(values), 3),
                          "per_seed": [round(v, 3) for v in values]})  # fmt: skip
        out["recipes"][recipe] = entry
    return out


def gate(cfg: MixEvalGate, table_: dict[str, Any]) -> dict[str, Any]:
    """MAGA mix not worse than repetition by more than ``max_loss_gap`` at equal tokens."""
    mix, base = table_.get("maga_mix", {}).get("all"), table_.get(BASELINE, {}).get("all")
    if mix is None or base is None:
        observed, passed = None, True
        why = "maga_mix or repetition was not evaluated: nothing to compare"
    else:
        observed = round(mix["mean"] - base["mean"], 5)
        passed = observed <= cfg.max_loss_gap
        why = (f"maga_mix mean loss is {observed:+.4f} nats vs repetition "
               f"(allowed: +{cfg.max_loss_gap})")  # fmt: skip
    return {"gate": "mix_eval", "enabled": cfg.enabled, "blocking": cfg.enabled,
            "passed": passed if cfg.enabled else True, "would_pass": passed,
            "observed": observed, "threshold": cfg.max_loss_gap,
            "reason": why if cfg.enabled else f"advisory (gate off: {cfg.reason or 'not enabled'}); {why}"}  # fmt: skip
