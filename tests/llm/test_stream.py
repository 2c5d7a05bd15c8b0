"""Feeding a real vLLM engine through a bounded window (tiny random model, CPU build).

The window must not change a single output (per-request seeds, deterministic mode), a
too-long prompt must come back as an error result, and a session stream must answer
each group with exactly its own results, empty groups included."""

import logging
import os
import re

import pytest

from maga.config import VLLMEngineConfig
from maga.llm.base import GenRequest
from maga.llm.jobs import EngineSession, ModelSpec
from maga.models.builtin import resolve_model

pytestmark = [pytest.mark.slow]
PROGRESS = re.compile(r"t: (\d+)/(\d+) requests, [\d.]+ completion tok/s, ETA \d+s$")
ENGINE = VLLMEngineConfig(max_model_len=256, max_num_seqs=8, kv_cache_space_gib=1)


def _requests(n: int, prefix: str = "") -> list[GenRequest]:
    return [
        GenRequest(
            messages=[{"role": "user", "content": f"{prefix}Document {i} about ships."}],
            max_tokens=12 + i % 7,  # uneven lengths: requests finish out of order
            temperature=0.8,
            seed=1000 + i,
            key=f"{prefix}{i}",
        )
        for i in range(n)
    ]


@pytest.fixture
def own_environment():
    """The backend and vLLM set variables in their process, here the test's (e.g.
    VLLM_ENABLE_V1_MULTIPROCESSING=0, LD_PRELOAD); later tests' engine workers must not
    inherit them, so the whole environment comes back afterwards."""
    saved = dict(os.environ)
    yield
    os.environ.clear()
    os.environ.update(saved)


@pytest.mark.timeout(300)
@pytest.mark.usefixtures("own_environment")
def test_window_changes_no_output_and_keeps_errors():
    from maga.llm.vllm_backend import VLLMBackend

    backend = VLLMBackend(resolve_model("builtin:tiny-random"), ENGINE, deterministic=True)
    try:
        reqs = _requests(30)
        too_long = GenRequest(messages=[{"role": "user", "content": "word " * 400}], max_tokens=8)
        reqs.insert(5, too_long)
        one_call = backend.generate(reqs)
        for window in (1, 5, 64):
            got = dict(backend.stream(enumerate(reqs), window))
            assert sorted(got) == list(range(len(reqs)))
            assert [got[i].text for i in range(len(reqs))] == [r.text for r in one_call]
            assert got[5].error == "prompt_too_long"
            assert sum(r.completion_tokens for r in got.values()) > 0
        with pytest.raises(ValueError, match="window"):
            list(backend.stream(enumerate(reqs), 0))
    finally:
        backend.close()


@pytest.mark.timeout(300)
def test_session_stream_answers_each_group_with_its_own_results(caplog, monkeypatch):
    spec = ModelSpec(
        label="t", path=resolve_model("builtin:tiny-random"), engine=ENGINE.model_dump()
    )
    groups = [(0, _requests(9, "a")), (1, []), (2, _requests(4, "b")), (5, _requests(11, "c"))]
    with EngineSession() as session:
        streamed = dict(session.stream(spec, iter(groups)))
        assert session.engine_starts == 1
        assert sorted(streamed) == [0, 1, 2, 5]
        assert streamed[1].results == []
        for group, requests in groups:
            if requests:
                alone = session.generate(spec, requests).results
                assert [r.text for r in streamed[group].results] == [r.text for r in alone]
                assert streamed[group].usage.requests == len(requests)
        assert session.engine_starts == 1  # generate reused the streaming engine
        # the benchmarks' reference, one LLM.generate call, gives the same outputs
        every = [r for _, requests in groups for r in requests]
        one = session.generate(spec, every, one_call=True)
        assert [r.text for r in one.results] == [
            r.text for g, _ in groups for r in streamed[g].results
        ]
        assert one.usage.requests == len(every) and one.usage.seconds > 0
        # Progress by time from inside the stream (MAGA_PROGRESS_EVERY_S), not per group:
        # the default 30 s logs nothing in this short stream, a short interval logs
        # counts that fall inside groups.
        assert not [r for r in caplog.records if PROGRESS.match(r.getMessage())]
        monkeypatch.setenv("MAGA_PROGRESS_EVERY_S", "0.001")
        with caplog.at_level(logging.INFO, logger="maga.llm.jobs"):
            again = dict(session.stream(spec, iter(groups)))  # a rerun: byte-identical
        lines = [m.groups() for r in caplog.records
                 if (m := PROGRESS.match(r.getMessage()))]  # fmt: skip
        done = [int(d) for d, _ in lines]
        assert len(done) >= 3 and done == sorted(done) and done[-1] <= 24, lines
        assert set(done) - {9, 13, 24}, lines  # not only at group ends
        assert all(total == "24" for _, total in lines)
        monkeypatch.delenv("MAGA_PROGRESS_EVERY_S")
        assert {g: [r.text for r in o.results] for g, o in again.items()} == {
            g: [r.text for r in o.results] for g, o in streamed.items()
        }
        for _, outcome in session.stream(spec, iter(groups)):
            if outcome.results:
                break  # a caller that stops reading mid-stream (its chunk write failed)
        assert session.engine_starts == 1 and session._proc is None  # that worker is ended
        third = dict(session.stream(spec, iter(groups)))  # and the session goes on
        assert session.engine_starts == 2
        assert [r.text for r in third[5].results] == [r.text for r in streamed[5].results]
