"""generate_kept: a long generation job keeps its finished chunks, so a task that fails
half-way is retried from the missing chunks only (scripted engine, no model)."""

from __future__ import annotations

import pytest

from maga.llm.base import GenRequest, GenResult, UsageCounter
from maga.llm.jobs import JobOutcome, ModelSpec
from maga.llm.kept import chunk_uri, drop_kept, generate_kept
from maga.storage import Storage

pytestmark = pytest.mark.timeout(60)
SPEC = ModelSpec(label="teacher", path="/models/teacher")


class Engine:
    """Answers request ``k`` with ``"out-k"``; dies after ``die_after`` chunks; a key in
    ``fail`` gets a failed result."""

    def __init__(self, die_after: int | None = None, fail: frozenset[str] = frozenset()) -> None:
        self.die_after, self.fail, self.asked = die_after, fail, []

    def stream(self, spec, groups):
        for n, (group, requests) in enumerate(groups):
            if self.die_after is not None and n == self.die_after:
                raise RuntimeError("engine process exited with -9")
            self.asked.append(group)
            results = [GenResult(text="", error="timeout") if r.key in self.fail
                       else GenResult(text=f"out-{r.key}", completion_tokens=2)
                       for r in requests]  # fmt: skip
            usage = UsageCounter()
            usage.add(results, 0.5)
            yield group, JobOutcome(results, usage, startup_seconds=1.0 if n == 0 else 0.0)

    def close(self) -> None:
        pass


def requests(n: int) -> list[GenRequest]:
    return [GenRequest(messages=[{"role": "user", "content": str(k)}], max_tokens=8, key=str(k))
            for k in range(n)]  # fmt: skip


def test_a_retry_generates_only_the_chunks_the_failed_attempt_did_not_finish(tmp_path, monkeypatch):
    storage, folder, reqs = Storage(), str(tmp_path / "stage" / "partial"), requests(10)
    first = Engine(die_after=2)
    monkeypatch.setattr("maga.llm.kept.open_session", lambda deterministic=None: first)
    with pytest.raises(RuntimeError, match="exited"):
        generate_kept(storage, folder, SPEC, reqs, chunk=3)
    assert first.asked == [0, 1]
    assert [storage.exists(chunk_uri(folder, i)) for i in range(4)] == [True, True, False, False]
    retry = Engine()
    monkeypatch.setattr("maga.llm.kept.open_session", lambda deterministic=None: retry)
    out = generate_kept(storage, folder, SPEC, reqs, chunk=3)
    assert retry.asked == [2, 3]  # chunks 0 and 1 were read back, not generated
    assert [r.text for r in out.results] == [f"out-{k}" for k in range(10)]
    assert out.usage.requests == 10 and out.usage.completion_tokens == 20
    assert out.usage.seconds == 1.0 and out.startup_seconds == 1.0  # this attempt's only
    drop_kept(storage, folder)
    assert not storage.exists(chunk_uri(folder, 0))


def test_a_chunk_with_a_failed_request_is_tried_again(tmp_path, monkeypatch):
    storage, folder, reqs = Storage(), str(tmp_path / "partial"), requests(4)
    monkeypatch.setattr(
        "maga.llm.kept.open_session", lambda deterministic=None: Engine(fail=frozenset({"3"}))
    )
    out = generate_kept(storage, folder, SPEC, reqs, chunk=2)
    assert [r.ok for r in out.results] == [True, True, True, False]  # a counted failure
    assert storage.exists(chunk_uri(folder, 0)) and not storage.exists(chunk_uri(folder, 1))
    healed = Engine()
    monkeypatch.setattr("maga.llm.kept.open_session", lambda deterministic=None: healed)
    out = generate_kept(storage, folder, SPEC, reqs, chunk=2)
    assert healed.asked == [1] and all(r.ok for r in out.results)
