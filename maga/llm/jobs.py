"""Run a batch of generations against one model, the way every stage does it.

vLLM engines run in a child process (``python -m maga.llm.worker``): one engine per
process, freed when the process ends, so two stages never fight over memory even
inside one Airflow worker or ``dag.test()``. HTTP backends run in-process.
Progress (done, tokens/s, ETA) goes to the task log while the batch runs.

This module is the entry point stages import from; the code lives in:

- :mod:`maga.llm.specs`: :class:`ModelSpec`, :class:`BenchSpec`, :class:`JobOutcome`,
  :class:`GenerationJobError`, the request and result files, the decode benchmark;
- :mod:`maga.llm.oneshot`: :func:`run_batches`, an HTTP batch, a one-shot engine process;
- :mod:`maga.llm.engine_process`: read deadlines, :func:`accelerator_visible`,
  :func:`default_deterministic`, starting and ending a session's worker process;
- :mod:`maga.llm.session`: :class:`EngineSession`;
- :mod:`maga.llm.pool`: :class:`EnginePool`, :func:`keep_engines`, :func:`open_session`,
  :func:`prepare_engines`, :func:`release_engines`, :func:`run_generation`.

Tests that replace one of these names patch it in the module that defines it: code
looks names up there, not here.
"""

from __future__ import annotations

from maga.llm.engine_process import (
    DEFAULT_PROGRESS_S,
    DEFAULT_REPLY_TIMEOUT_S,
    DEFAULT_START_TIMEOUT_S,
    PROGRESS_ENV,
    REPLY_TIMEOUT_ENV,
    START_TIMEOUT_ENV,
    accelerator_visible,
    default_deterministic,
)
from maga.llm.oneshot import (
    DEFAULT_IDLE_TIMEOUT_S,
    IDLE_TIMEOUT_ENV,
    run_batches,
    run_http,
    run_subprocess,
)
from maga.llm.pool import (
    EnginePool,
    PooledSession,
    keep_engines,
    open_session,
    prepare_engines,
    release_engines,
    run_generation,
)
from maga.llm.session import EngineSession
from maga.llm.specs import (
    BenchSpec,
    GenerationJobError,
    JobOutcome,
    ModelSpec,
    bench_figures,
    bench_requests,
    read_results,
    request_from_dict,
    request_to_dict,
    write_requests,
)

# The names these had before the split (tests/refresh/helpers.py calls _run_http).
_run_http = run_http
_run_subprocess = run_subprocess

__all__ = [
    "DEFAULT_IDLE_TIMEOUT_S",
    "DEFAULT_PROGRESS_S",
    "DEFAULT_REPLY_TIMEOUT_S",
    "DEFAULT_START_TIMEOUT_S",
    "IDLE_TIMEOUT_ENV",
    "PROGRESS_ENV",
    "REPLY_TIMEOUT_ENV",
    "START_TIMEOUT_ENV",
    "BenchSpec",
    "EnginePool",
    "EngineSession",
    "GenerationJobError",
    "JobOutcome",
    "ModelSpec",
    "PooledSession",
    "accelerator_visible",
    "bench_figures",
    "bench_requests",
    "default_deterministic",
    "keep_engines",
    "open_session",
    "prepare_engines",
    "read_results",
    "release_engines",
    "request_from_dict",
    "request_to_dict",
    "run_batches",
    "run_generation",
    "run_http",
    "run_subprocess",
    "write_requests",
]
