"""Engines kept across the stages of one runner process (:class:`EnginePool`,
:func:`keep_engines`), what a stage asks for an engine through (:func:`open_session`,
:func:`prepare_engines`), and :func:`run_generation`, which sends a batch to a kept
engine when a pool is active, else to one of its own.

Public names are re-exported by :mod:`maga.llm.jobs`, the entry point stages import.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterable, Iterator
from typing import Any

from maga.llm.base import GenRequest
from maga.llm.oneshot import run_http, run_subprocess
from maga.llm.session import EngineSession
from maga.llm.specs import (
    BenchSpec,
    GenerationJobError,
    JobOutcome,
    ModelSpec,
    bench_figures,
    bench_requests,
    engine_key,
)
from maga.log import get_logger

# The job machinery's one logger, as before it was split into modules (task logs name it).
log = get_logger("llm.jobs")


def run_generation(
    spec: ModelSpec, requests: list[GenRequest], bench: BenchSpec | None = None
) -> JobOutcome:
    """``requests`` through the model of ``spec``: an engine process of its own, or one
    the runner keeps (:func:`keep_engines`); then the ``bench`` decode on that engine."""
    if spec.backend == "openai":
        return run_http(spec, requests, bench)
    if spec.backend != "vllm":
        raise ValueError(f"unknown backend {spec.backend!r}")
    if _POOL is None:
        return run_subprocess(spec, requests, bench)
    outcome = _POOL.generate(spec, requests)
    if bench:  # timed inside the engine process, like the one-shot worker's
        b = _POOL.generate(spec, bench_requests(requests, bench), one_call=True)
        outcome.bench = bench_figures(b.results, b.usage.seconds)
    return outcome


class EnginePool:
    """Engines kept alive across the stages of one runner process.

    ``maga run`` and ``maga demo`` run every stage in one process. Inside
    :func:`keep_engines`, a stage that asks for an engine gets the one an earlier stage
    started for the same model, engine settings and seed, while it is kept: the teacher
    starts once for labeling, rewriting and every judge, not once per stage. At most
    ``keep`` engines live at once (each holds its weights and KV cache); starting one
    more ends the one used longest ago. Every engine is deterministic (per-request
    seeds), so a request's output does not depend on which stage started its engine.
    Airflow runs each task in a process of its own, with a pool of its own
    (``maga.pipelines.airflow_glue.with_task_engines``): engines a task needs together start
    side by side, and all end with the task.
    """

    def __init__(self, keep: int, deterministic: bool | None = None) -> None:
        if keep < 1:
            raise ValueError(f"an engine pool keeps at least 1 engine, got {keep}")
        self.keep = keep
        self.deterministic = deterministic
        self._sessions: dict[str, EngineSession] = {}  # least recently used first
        self._ended = {"engine_starts": 0, "startup_seconds": 0.0, "spawn_seconds": 0.0}
        self.reused = 0  # calls served by an engine an earlier call started

    def _total(self, name: str) -> Any:
        return self._ended[name] + sum(getattr(s, name) for s in self._sessions.values())

    @property
    def engine_starts(self) -> int:
        return self._total("engine_starts")

    @property
    def startup_seconds(self) -> float:
        return self._total("startup_seconds")

    @property
    def spawn_seconds(self) -> float:
        return self._total("spawn_seconds")

    def prepare(self, specs: list[ModelSpec]) -> None:
        """Start the engines of ``specs`` that are not running, side by side (most of a
        start is one process importing and allocating; two overlap well), so a stage
        that needs several models waits for the slowest start, not for their sum.
        Engines the pool cannot keep all at once are left to start when asked for."""
        todo: dict[str, ModelSpec] = {}
        for spec in specs:
            key = engine_key(spec)
            if spec.backend != "vllm" or key in todo:
                continue
            kept = self._sessions.get(key)
            if kept is None or kept.worker_pid is None:
                todo[key] = spec
        if len(todo) < 2 or len(todo) > self.keep:
            return
        launched = []
        for key, spec in todo.items():
            session = self.session_for(spec)  # evicts the least recently used if full
            session.launch(spec)
            launched.append((session, key))
        log.info("starting %d engines side by side: %s", len(launched),
                 ", ".join(s.label for s in todo.values()))  # fmt: skip
        failed = None
        for session, key in launched:
            try:
                session.wait_ready()
            except GenerationJobError as exc:  # the stage's own call reports it again
                failed = failed or exc
                self._end(key)
        if failed is not None:
            log.warning("an engine started side by side failed: %s", failed)

    def session_for(self, spec: ModelSpec) -> EngineSession:
        """The session holding ``spec``'s engine (started on its first call), now the most
        recently used; the least recently used one ends when the pool is full."""
        key = engine_key(spec)
        session = self._sessions.pop(key, None)
        if session is not None and session.worker_pid is not None:
            self.reused += 1
            log.info("%s: engine kept from an earlier call (%d of %d kept)", spec.label,
                     len(self._sessions) + 1, self.keep)  # fmt: skip
        elif session is None:
            while len(self._sessions) >= self.keep:
                self._end(next(iter(self._sessions)))
            session = EngineSession(deterministic=self.deterministic)
        self._sessions[key] = session
        return session

    def _end(self, key: str) -> None:
        session = self._sessions.pop(key)
        for name in self._ended:
            self._ended[name] += getattr(session, name)
        session.close()

    def generate(
        self, spec: ModelSpec, requests: list[GenRequest], one_call: bool = False
    ) -> JobOutcome:
        if spec.backend != "vllm":  # HTTP: no engine to keep
            return run_http(spec, requests, None)
        return self.session_for(spec).generate(spec, requests, one_call)

    def stream(
        self, spec: ModelSpec, groups: Iterable[tuple[int, list[GenRequest]]]
    ) -> Iterator[tuple[int, JobOutcome]]:
        if spec.backend != "vllm":
            for group, requests in groups:
                yield group, run_http(spec, requests, None)
            return
        yield from self.session_for(spec).stream(spec, groups)

    def release(self, why: str) -> None:
        """End every kept engine now, saying why (a stage that needs the accelerator)."""
        if self._sessions:
            log.info("%s: ending %d kept engine(s) to free the accelerator", why,
                     len(self._sessions))  # fmt: skip
            self.close()

    def close(self) -> None:
        """End every kept engine."""
        while self._sessions:
            self._end(next(iter(self._sessions)))


class PooledSession:
    """What a stage holds while a pool is active: the pool's calls and counters, and a
    ``close`` that leaves the engines to the pool (it ends them when its scope ends)."""

    def __init__(self, pool: EnginePool) -> None:
        self.pool = pool

    def __enter__(self) -> PooledSession:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def generate(
        self, spec: ModelSpec, requests: list[GenRequest], one_call: bool = False
    ) -> JobOutcome:
        return self.pool.generate(spec, requests, one_call)

    def stream(
        self, spec: ModelSpec, groups: Iterable[tuple[int, list[GenRequest]]]
    ) -> Iterator[tuple[int, JobOutcome]]:
        return self.pool.stream(spec, groups)

    @property
    def engine_starts(self) -> int:
        return self.pool.engine_starts

    @property
    def startup_seconds(self) -> float:
        return self.pool.startup_seconds

    @property
    def spawn_seconds(self) -> float:
        return self.pool.spawn_seconds

    def close(self) -> None:
        pass


_POOL: EnginePool | None = None


@contextlib.contextmanager
def active_pool(pool: Any) -> Iterator[Any]:
    """Within this block, stages of this process get their engines from ``pool`` (an
    :class:`EnginePool`, or the engine host's ``HostedPool``); it is closed when the block
    ends. Inside an active block, the outer pool goes on serving."""
    global _POOL
    if _POOL is not None:
        yield _POOL
        return
    _POOL = pool
    try:
        yield pool
    finally:
        _POOL = None
        pool.close()


def keep_engines(keep: int, deterministic: bool | None = None) -> Any:
    """Within this block, stages of this process share engines (:class:`EnginePool`);
    every engine ends when the block does. Inside an active block, the outer pool goes
    on serving (and keeps its size). Start it from the thread the stages run in: an
    engine process dies with the thread that started it (``lifecycle.py``)."""
    if _POOL is not None:
        return active_pool(_POOL)
    return active_pool(EnginePool(keep, deterministic))


def release_engines(why: str) -> None:
    """End every engine the active pool keeps (a later call starts what it needs again);
    nothing to do without a pool."""
    if _POOL is not None:
        _POOL.release(why)


def prepare_engines(specs: list[ModelSpec]) -> None:
    """Start the engines a stage is about to use side by side, when the runner keeps
    engines (:meth:`EnginePool.prepare`); without a pool each starts when first used."""
    if _POOL is not None:
        _POOL.prepare(specs)


def open_session(deterministic: bool | None = None) -> EngineSession | PooledSession:
    """An engine session for one stage: the active pool's, else one of its own (the
    caller closes either way; closing a pooled one leaves its engines to the pool).
    ``deterministic``: ``runner.deterministic`` (None: :func:`default_deterministic`)."""
    return PooledSession(_POOL) if _POOL is not None else EngineSession(deterministic)
