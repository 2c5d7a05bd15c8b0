"""Small helpers shared by the teacher and student generation stages."""

from __future__ import annotations

from typing import Any

from maga.runs.stage import StageStats


def record_usage(stats: StageStats, label: str, outcome: Any) -> None:
    """Add a generation job's tokens and speed to the stage stats."""
    usage = outcome.usage.as_dict()
    stats.add_usage(usage)
    models = stats.extra.setdefault("models", {})
    entry = {**usage, "engine_startup_seconds": round(outcome.startup_seconds, 2)}
    if outcome.bench:
        entry["bench"] = outcome.bench
    models[label] = entry
