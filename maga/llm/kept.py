"""Generation that keeps what finished: a long job (a teacher stage over the whole
sample) writes its results chunk by chunk under a folder, so a task that fails or is
killed half-way is retried from the chunks still missing instead of from nothing.

One engine serves all missing chunks (``EngineSession.stream``: a bounded window of
requests in flight across chunk boundaries, no barrier between chunks), and a chunk's
file is written, atomically, as soon as its last request is done. Per-request seeds
and the session's deterministic mode make a regenerated chunk come out as the lost one
would have, so the joined results do not depend on where the task was stopped.
"""

from __future__ import annotations

import os
import signal
from dataclasses import asdict

from maga.jsonl import iter_jsonl, write_jsonl
from maga.llm.base import GenRequest, GenResult, UsageCounter
from maga.llm.jobs import JobOutcome, ModelSpec, open_session
from maga.log import get_logger
from maga.storage import Storage, join_uri

log = get_logger("llm.kept")
CHUNK = 256  # requests per kept file
# Test hooks (tests/pipelines/test_stage_sigkill.py): smaller kept files, so a tiny stage
# has several (every attempt of a stage must use the same size), and a SIGKILL of this
# process right after the N-th new chunk is written: a deterministic crash point.
CHUNK_ENV, CRASH_ENV = "MAGA_TEST_KEPT_CHUNK", "MAGA_TEST_CRASH_AFTER_KEPT_CHUNKS"


def chunk_uri(folder: str, index: int) -> str:
    return join_uri(folder, f"chunk-{index:05d}.jsonl")


def drop_kept(storage: Storage, folder: str) -> None:
    """Remove the kept chunks once the stage has written its own output from them."""
    storage.delete_prefix(folder)


def generate_kept(storage: Storage, folder: str, spec: ModelSpec, requests: list[GenRequest],
                  chunk: int | None = None,
                  deterministic: bool | None = None) -> JobOutcome:  # fmt: skip
    """Results of ``requests`` in order. Chunks already under ``folder`` are read, not
    generated (a chunk with a failed request is not kept, so a retry tries it again);
    the usage counts every result, the seconds only this attempt's. ``deterministic``:
    ``runner.deterministic`` (a regenerated chunk byte-identical, README "Determinism")."""
    chunk = chunk or int(os.environ.get(CHUNK_ENV) or CHUNK)
    n = (len(requests) + chunk - 1) // chunk
    done: dict[int, list[GenResult]] = {}
    for i in range(n):
        if storage.exists(uri := chunk_uri(folder, i)):
            done[i] = [GenResult(**row) for row in iter_jsonl(storage, uri)]
    todo = [i for i in range(n) if i not in done]
    if done:
        log.info("%s: %d of %d chunks kept from an earlier attempt; generating %d", spec.label,
                 len(done), n, len(todo))  # fmt: skip
    usage, startup = UsageCounter(), 0.0
    usage.add([r for results in done.values() for r in results], 0.0)
    if todo:
        session = open_session(deterministic)
        crash_after, written, generated = int(os.environ.get(CRASH_ENV) or 0), 0, 0
        try:
            groups = ((i, requests[i * chunk : (i + 1) * chunk]) for i in todo)
            for i, outcome in session.stream(spec, groups):
                generated += len(outcome.results)
                if all(r.ok for r in outcome.results):  # a failed request is tried again
                    write_jsonl(storage, chunk_uri(folder, i), (asdict(r) for r in outcome.results))
                    written += 1
                    if written == crash_after:
                        log.warning("%s=%d: killing this process", CRASH_ENV, crash_after)
                        os.kill(os.getpid(), signal.SIGKILL)
                done[i] = outcome.results
                usage.add(outcome.results, outcome.usage.seconds)  # counts come from the results
                startup += outcome.startup_seconds
        finally:
            session.close()
        log.info("%s: generated %d requests in %d chunks in this attempt", spec.label,
                 generated, len(todo))  # fmt: skip
    return JobOutcome([r for i in range(n) for r in done[i]], usage, startup)
