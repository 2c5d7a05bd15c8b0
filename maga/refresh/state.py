"""Per-shard step state, in two places.

* Staging (``O/_staging/<key>/<fp>/<stage>/stats.json`` + ``_SUCCESS``): the expensive
  work of a stage is done once per shard content and settings; a retried task, or a
  later run after a crash, finds it and skips it.
* Run folder (``<run>/shards/<key>/<step>.json``): what this run's step concluded
  (``ok``, ``stopped`` by a gate, ``failed``), read by publish and the run report.
"""

from __future__ import annotations

from typing import Any

from maga.refresh.layout import ShardPaths
from maga.runs.context import RunContext
from maga.storage import Storage

STEPS = ("gate", "reformulate", "clean", "validate")


def staged(storage: Storage, paths: ShardPaths, stage: str) -> dict[str, Any] | None:
    """The stored stats of a completed stage, or None."""
    if storage.exists(paths.marker(stage)):
        return storage.read_json(paths.stats(stage))
    return None


def save_staged(storage: Storage, paths: ShardPaths, stage: str, stats: dict[str, Any]) -> None:
    """Stats first, then the marker: a marker always has its stats."""
    storage.write_json(paths.stats(stage), stats)
    storage.write_text(paths.marker(stage), "")


def record_step(
    ctx: RunContext,
    key: str,
    step: str,
    status: str,
    stats: dict[str, Any],
    reason: str = "",
    seconds: float | None = None,
) -> dict[str, Any]:
    """``seconds``: how long the step took in this run (a resumed step takes less)."""
    record = {
        "step": step,
        "status": status,
        "reason": reason,
        "seconds": None if seconds is None else round(seconds, 3),
        "stats": stats,
    }
    ctx.storage.write_json(ctx.uri("shards", key, f"{step}.json"), record)
    return record


def step_record(ctx: RunContext, key: str, step: str) -> dict[str, Any] | None:
    uri = ctx.uri("shards", key, f"{step}.json")
    return ctx.storage.read_json(uri) if ctx.storage.exists(uri) else None


def shard_outcome(ctx: RunContext, key: str) -> dict[str, Any]:
    """Where a shard got to in this run: the last step with a record and its status.
    A step that started but wrote nothing (an error) leaves ``failed`` at the next step."""
    records = {s: step_record(ctx, key, s) for s in STEPS}
    for step in STEPS:
        rec = records[step]
        if rec is None:
            return {"status": "failed", "step": step, "reason": f"{step} did not finish "
                    "(task error; see its log)", "records": records}  # fmt: skip
        if rec["status"] != "ok":
            return {"status": rec["status"], "step": step, "reason": rec["reason"],
                    "records": records}  # fmt: skip
    return {"status": "ok", "step": "validate", "reason": "", "records": records}
