"""Which student the refresh serves: the quantized one, or the trained one where the
quantized one measured slower on this machine (``quantize.serve: faster``).

INT8 W8A8 is not faster everywhere: on a CPU without AMX or VNNI-friendly kernels its
GEMMs can lose to plain float32. The evaluation stages already time both students on the
same prompts (``eval_slm`` before, ``eval_quantized`` after), so the choice is made from
those figures on the machine that will serve them, and said with them. The quality
comparison and its gate are unchanged: they always compare before and after.
"""

from __future__ import annotations

from typing import Any

# tool-model role -> key of the evaluation's tokens_per_s figures
BENCH_KEYS = {"ga_slm": "ga_slm", "reformulation_slm": "reform_slm"}


def choose_served(
    serve: str, margin: float, before: dict[str, Any], after: dict[str, Any]
) -> dict[str, dict[str, Any]]:
    """role -> {"model": "quantized" | "trained", "tokens_per_s": {...}, "why": str}.

    ``serve == "quantized"``: always the quantized student. ``"faster"``: the trained one
    only when the quantized one ran under ``1 - margin`` of its tok/s (the two stages run
    at different moments, so a small gap is noise; a quantized model also needs less
    memory). A role without both figures keeps the quantized student."""
    out: dict[str, dict[str, Any]] = {}
    for role, key in BENCH_KEYS.items():
        b, a = (before or {}).get(key), (after or {}).get(key)
        model = "quantized"
        if serve != "faster":
            why = "quantize.serve: quantized"
        elif not a or not b:
            why = "no tok/s figure for both models: kept the quantized one"
        else:
            slower = a < (1 - margin) * b
            model = "trained" if slower else "quantized"
            why = (f"quantized {a:.1f} tok/s {'<' if slower else '>='} {1 - margin:.2f} x "
                   f"trained {b:.1f} tok/s on this machine")  # fmt: skip
        out[role] = {"model": model, "tokens_per_s": {"trained": b, "quantized": a}, "why": why}
    return out


def serves_quantized(served: dict[str, dict[str, Any]] | None, roles: list[str]) -> bool:
    """Whether every one of ``roles`` serves its quantized model (a shared LoRA base is
    quantized for both roles or for neither). No record (older runs): quantized."""
    return all((served or {}).get(r, {}).get("model", "quantized") == "quantized" for r in roles)
