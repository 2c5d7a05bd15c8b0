"""Which engines a stage used, and on what: dtype, ISA, threads (``engine_facts`` in
``vllm_backend.py``). Every engine call notes its engine's facts here; the step runner
(``runs/stage.py``) takes them after a stage or shard step and records them in its
stats, so the run summary, the report's cost section and the throughput store say which
precision produced each figure."""

from __future__ import annotations

from typing import Any

_NOTED: dict[str, dict[str, Any]] = {}  # label -> facts, since the last take()


def note(label: str, facts: dict[str, Any] | None) -> None:
    """``label``'s engine ran with ``facts`` (None: not a local vLLM engine)."""
    if facts:
        _NOTED[label] = dict(facts)


def take() -> dict[str, dict[str, Any]]:
    """The facts noted since the last call, by label; clears them."""
    out = dict(_NOTED)
    _NOTED.clear()
    return out


def peek() -> dict[str, dict[str, Any]]:
    return dict(_NOTED)


def summary(noted: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """One line's worth for stats: each label's dtype, and the ISA and threads seen."""
    if not noted:
        return {}
    first = next(iter(noted.values()))
    return {
        "engine_dtype": {
            label: f.get("model_dtype") or f.get("dtype") for label, f in noted.items()
        },
        "engine_isa": first.get("isa"),
        "engine_threads": max(int(f.get("torch_threads") or 0) for f in noted.values()),
    }
