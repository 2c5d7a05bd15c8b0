"""A stage is one unit of work that declares what it reads and writes.

``run_stage`` makes every stage idempotent and resumable: the stage writes its
outputs atomically under ``<run>/<stage>/``, then ``stats.json`` and a ``_SUCCESS``
marker. A rerun of a finished stage returns the stored stats and changes nothing.
"""

from __future__ import annotations

import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Any, Protocol

from maga.log import get_logger
from maga.runs.context import RunContext

log = get_logger("stage")


@dataclass
class StageStats:
    """Per-stage counters that go into ``stats.json`` and the run summary."""

    docs_in: int = 0
    docs_out: int = 0
    dropped: Counter = field(default_factory=Counter)
    prompt_tokens: int = 0
    completion_tokens: int = 0
    artifacts: dict[str, str] = field(default_factory=dict)
    extra: dict[str, Any] = field(default_factory=dict)

    def drop(self, reason: str, n: int = 1) -> None:
        self.dropped[reason] += n

    def add_usage(self, usage: dict[str, Any]) -> None:
        self.prompt_tokens += int(usage.get("prompt_tokens", 0))
        self.completion_tokens += int(usage.get("completion_tokens", 0))

    def as_dict(self) -> dict[str, Any]:
        return {
            "docs_in": self.docs_in,
            "docs_out": self.docs_out,
            "dropped": dict(sorted(self.dropped.items())),
            "prompt_tokens": self.prompt_tokens,
            "completion_tokens": self.completion_tokens,
            "artifacts": self.artifacts,
            **self.extra,
        }


class Stage(Protocol):
    name: str
    reads: tuple[str, ...]  # paths relative to the run folder
    writes: tuple[str, ...]

    def run(self, ctx: RunContext) -> StageStats: ...


def stage_done(ctx: RunContext, name: str) -> bool:
    return ctx.storage.exists(ctx.uri(name, "_SUCCESS"))


def run_stage(ctx: RunContext, stage: Stage) -> dict[str, Any]:
    from maga.runs.summary import refresh_summary

    marker, stats_uri = ctx.uri(stage.name, "_SUCCESS"), ctx.uri(stage.name, "stats.json")
    if ctx.storage.exists(marker):
        log.info("%s: already complete in %s; nothing to do", stage.name, ctx.run_uri)
        return ctx.storage.read_json(stats_uri)
    missing = [p for p in stage.reads if not ctx.storage.exists(ctx.uri(p))]
    if missing:
        raise FileNotFoundError(
            f"{stage.name}: inputs missing from {ctx.run_uri}: {', '.join(missing)} "
            "(did the upstream task finish?)"
        )
    log.info("%s: starting (reads %s)", stage.name, ", ".join(stage.reads) or "source corpus")
    began = time.perf_counter()
    stats = stage.run(ctx).as_dict()
    stats["seconds"] = round(time.perf_counter() - began, 3)
    ctx.storage.write_json(stats_uri, stats)
    ctx.storage.write_text(marker, "")
    refresh_summary(ctx)
    log.info(
        "%s: done in %.1fs: in=%s out=%s dropped=%s",
        stage.name,
        stats["seconds"],
        stats["docs_in"],
        stats["docs_out"],
        stats["dropped"],
    )
    return stats
