"""Steps: units of work that declare what they read and write, and the one runner that
gives every step the same done-marker, resume, timing and stats handling.

Two scopes share one mechanism (a folder holding ``stats.json`` and then ``_SUCCESS``:
a marker always has its stats):

* a **run-level stage** (:class:`Stage`, :func:`run_stage`) writes its outputs under
  ``<run>/<stage>/``; a rerun of a finished stage returns the stored stats and changes
  nothing. Both DAGs' run-level tasks are stages.
* a **shard step** (:class:`ShardStep`, :func:`run_shard_step`) of the corpus refresh
  stages its expensive work once per shard content and settings under
  ``<output>/_staging/<key>/<fingerprint>/<step>/`` (a retried task, or a later run after
  a crash, finds it), re-runs its gate check every time, and records what this run
  concluded (``ok``, ``stopped`` by a gate, ``failed``) in ``<run>/shards/<key>/<step>.json``
  for publish and the run report (:func:`shard_outcome`).
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

from maga.llm import facts as engine_facts
from maga.log import get_logger
from maga.runs.context import RunContext
from maga.steps import REFRESH_SHARD_STEPS
from maga.storage import Storage, join_uri

log = get_logger("stage")
MARKER, STATS = "_SUCCESS", "stats.json"


# --- the done-marker mechanism, one for both scopes ---------------------------------------
def load_done(storage: Storage, folder: str) -> dict[str, Any] | None:
    """The stored stats of a finished step folder, or None."""
    if storage.exists(join_uri(folder, MARKER)):
        return storage.read_json(join_uri(folder, STATS))
    return None


def save_done(storage: Storage, folder: str, stats: dict[str, Any]) -> None:
    """Stats first, then the marker: a marker always has its stats."""
    storage.write_json(join_uri(folder, STATS), stats)
    storage.write_text(join_uri(folder, MARKER), "")


# --- run-level stages -----------------------------------------------------------------------
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
    # Optional (default False): the stage computes on the accelerator itself (training,
    # quantization), so engines the runner keeps (maga.llm.pool.keep_engines) end first.
    # uses_accelerator: bool

    def run(self, ctx: RunContext) -> StageStats: ...


def stage_done(ctx: RunContext, name: str) -> bool:
    return ctx.storage.exists(ctx.uri(name, MARKER))


def run_stage(ctx: RunContext, stage: Stage) -> dict[str, Any]:
    from maga.runs.summary import refresh_summary

    done = load_done(ctx.storage, ctx.uri(stage.name))
    if done is not None:
        log.info("%s: already complete in %s; nothing to do", stage.name, ctx.run_uri)
        return done
    missing = [p for p in stage.reads if not ctx.storage.exists(ctx.uri(p))]
    if missing:
        raise FileNotFoundError(
            f"{stage.name}: inputs missing from {ctx.run_uri}: {', '.join(missing)} "
            "(did the upstream task finish?)"
        )
    log.info("%s: starting (reads %s)", stage.name, ", ".join(stage.reads) or "source corpus")
    if getattr(stage, "uses_accelerator", False):
        from maga.llm.engine_process import accelerator_visible
        from maga.llm.pool import release_engines

        if accelerator_visible():
            release_engines(stage.name)
    began, _ = time.perf_counter(), engine_facts.take()
    stats = stage.run(ctx).as_dict()
    stats.update(engine_facts.summary(engine_facts.take()))  # dtype, ISA, threads
    stats["seconds"] = round(time.perf_counter() - began, 3)
    unwritten = [p for p in stage.writes if p != f"{stage.name}/{STATS}"
                 and not _written(ctx, p)]  # fmt: skip
    if unwritten:  # a stage that skipped a declared output must not look finished
        raise RuntimeError(f"{stage.name}: declared outputs not written to {ctx.run_uri}: "
                           f"{', '.join(unwritten)}")  # fmt: skip
    save_done(ctx.storage, ctx.uri(stage.name), stats)
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


def _written(ctx: RunContext, path: str) -> bool:
    """A declared output exists: a file, or a folder (``…/``) holding at least one."""
    if path.endswith("/"):
        return bool(ctx.storage.list(ctx.uri(path.rstrip("/"))))
    return ctx.storage.exists(ctx.uri(path))


# --- shard steps (the corpus refresh) ------------------------------------------------------
class StepGate(Protocol):
    """A shard step's gate verdict (``maga.gates.core.GateResult`` implements it), so this
    package records and enforces gates without importing ``maga.gates`` (which imports
    ``maga.runs``)."""

    gate: str
    passed: bool
    reason: str

    def write(self, out_dir: str, storage: Any = None) -> Any: ...

    def enforce(self) -> Any:  # raises maga.gates.core.GateFailed unless passed
        ...


class ShardFolders(Protocol):
    """Where one shard's steps stage their work (``maga.refresh.layout.ShardPaths``)."""

    key: str
    staging: str

    def stage(self, *parts: str) -> str: ...


@dataclass
class ShardWork:
    """What a shard step's work gets: the run, the shard, its folders, the stats of the
    steps it ``needs`` and the engine session. A step whose gate needs more than its
    stats (validate's scanned rows) sets ``gate`` itself."""

    ctx: RunContext
    shard: dict[str, Any]
    paths: ShardFolders
    inputs: dict[str, dict[str, Any]]
    session: Any = None
    gate: StepGate | None = None


@dataclass(frozen=True)
class ShardStep:
    """One step of one shard.

    ``work`` does the expensive part and returns its stats; with ``staged`` they are kept
    once per shard content and settings, so a rerun skips straight to ``check``.
    ``check``, when given, is the step's gate over those stats, re-run every time (a
    changed threshold applies to staged work); a failed check stops the shard."""

    name: str
    needs: tuple[str, ...]
    work: Callable[[ShardWork], dict[str, Any]]
    check: Callable[[ShardWork, dict[str, Any]], StepGate] | None = None
    staged: bool = True


def staged(storage: Storage, paths: ShardFolders, step: str) -> dict[str, Any] | None:
    """The staged stats of a shard step, or None."""
    return load_done(storage, paths.stage(step))


def save_staged(storage: Storage, paths: ShardFolders, step: str, stats: dict[str, Any]) -> None:
    save_done(storage, paths.stage(step), stats)


def run_shard_step(ctx: RunContext, shard: dict[str, Any], step: ShardStep, paths: ShardFolders,
                   session: Any = None) -> dict[str, Any]:  # fmt: skip
    """Run ``step`` for ``shard``: resume staged work, refuse missing inputs, time it,
    gate it, record the outcome; raises GateFailed when the gate stops the shard."""
    t0 = time.perf_counter()
    storage, key = ctx.storage, shard["key"]
    inputs = {n: staged(storage, paths, n) for n in step.needs}
    missing = [n for n, stats in inputs.items() if stats is None]
    if missing:
        raise FileNotFoundError(f"{step.name} {key}: {', '.join(missing)} not done in "
                                f"{paths.staging} (did the upstream task finish?)")  # fmt: skip
    work = ShardWork(ctx, shard, paths, inputs, session)  # type: ignore[arg-type]
    stats = staged(storage, paths, step.name) if step.staged else None
    if stats is not None:
        log.info("%s %s: already staged; %s", step.name, key,
                 "re-checking its gate" if step.check else "nothing to do")  # fmt: skip
    else:
        engine_facts.take()
        stats = step.work(work)
        stats.update(engine_facts.summary(engine_facts.take()))  # dtype, ISA, threads
        if step.staged:
            save_staged(storage, paths, step.name, stats)
    gate = step.check(work, stats) if step.check else work.gate
    if gate is not None:
        gate.write(ctx.uri("gates", gate.gate), storage)
    status = "ok" if gate is None or gate.passed else "stopped"
    record_step(ctx, key, step.name, status, stats, "" if gate is None else gate.reason,
                seconds=time.perf_counter() - t0)  # fmt: skip
    if gate is not None:
        gate.enforce()
    return stats


def record_step(ctx: RunContext, key: str, step: str, status: str, stats: dict[str, Any],
                reason: str = "", seconds: float | None = None) -> dict[str, Any]:  # fmt: skip
    """What this run's ``step`` concluded for shard ``key``. ``seconds``: how long the
    step took in this run (a resumed step takes less)."""
    record = {"step": step, "status": status, "reason": reason,
              "seconds": None if seconds is None else round(seconds, 3), "stats": stats}  # fmt: skip
    ctx.storage.write_json(ctx.uri("shards", key, f"{step}.json"), record)
    return record


def step_record(ctx: RunContext, key: str, step: str) -> dict[str, Any] | None:
    uri = ctx.uri("shards", key, f"{step}.json")
    return ctx.storage.read_json(uri) if ctx.storage.exists(uri) else None


def shard_outcome(ctx: RunContext, key: str) -> dict[str, Any]:
    """Where a shard got to in this run: the last step with a record and its status.
    A step that started but wrote nothing (an error) leaves ``failed`` at the next step."""
    records = {s: step_record(ctx, key, s) for s in REFRESH_SHARD_STEPS}
    for step in REFRESH_SHARD_STEPS:
        rec = records[step]
        if rec is None:
            return {"status": "failed", "step": step, "reason": f"{step} did not finish "
                    "(task error; see its log)", "records": records}  # fmt: skip
        if rec["status"] != "ok":
            return {"status": rec["status"], "step": step, "reason": rec["reason"],
                    "records": records}  # fmt: skip
    return {"status": "ok", "step": REFRESH_SHARD_STEPS[-1], "reason": "", "records": records}
