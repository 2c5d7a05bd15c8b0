"""Engines kept across stages by the CLI runner (``keep_engines``), on real vLLM engines
(tiny random model, CPU build): a model asked for again reuses its running engine, the
least recently used one ends when the pool is full, nothing outlives the block, and a
pooled engine answers exactly as a stage's own engine would."""

import pytest

from maga.config import VLLMEngineConfig
from maga.llm.base import GenRequest
from maga.llm.jobs import (
    BenchSpec,
    EnginePool,
    EngineSession,
    ModelSpec,
    keep_engines,
    open_session,
    run_generation,
)
from maga.llm.lifecycle import descendants
from maga.models.builtin import resolve_model

pytestmark = [pytest.mark.slow]
ENGINE = VLLMEngineConfig(max_model_len=256, max_num_seqs=8, kv_cache_space_gib=1)


def _spec(label: str, seed: int) -> ModelSpec:
    """Two seeds of one model: two engine keys, two engines."""
    path = resolve_model("builtin:tiny-random")
    return ModelSpec(label=label, path=path, engine=ENGINE.model_dump(), seed=seed)


def _requests(n: int) -> list[GenRequest]:
    return [
        GenRequest(
            messages=[{"role": "user", "content": f"Document {i} about harbours."}],
            max_tokens=10 + i % 5,
            temperature=0.8,
            seed=500 + i,
            key=str(i),
        )
        for i in range(n)
    ]


def _alive(pid: int | None) -> bool:
    if pid is None:
        return False
    try:
        with open(f"/proc/{pid}/stat") as fh:
            return fh.read().rsplit(")", 1)[1].split()[0] not in {"Z", "X"}
    except OSError:
        return False


@pytest.mark.timeout(600)
def test_pool_reuses_evicts_and_ends_every_engine():
    a, b = _spec("a", 1), _spec("b", 2)
    reqs = _requests(6)
    with EngineSession(deterministic=True) as own:  # what a stage without a pool gets
        expected = [r.text for r in own.generate(a, reqs).results]

    with keep_engines(2) as pool:
        stage = open_session()
        first = stage.generate(a, reqs)
        assert [r.text for r in first.results] == expected  # same engine settings, same text
        assert first.startup_seconds > 0
        stage.close()  # a stage's close leaves the engine to the pool
        pid_a = pool.session_for(a).worker_pid
        assert _alive(pid_a) and pool.engine_starts == 1

        with keep_engines(5) as inner:  # nested: the outer pool goes on serving
            assert inner is pool and inner.keep == 2
            again = open_session().generate(a, reqs)
        assert [r.text for r in again.results] == expected and again.startup_seconds == 0.0
        assert pool.engine_starts == 1 and pool.reused >= 1

        out = run_generation(b, reqs, BenchSpec(prompts=4, max_tokens=8))
        assert len(out.results) == 6 and out.bench["completion_tokens"] == 32
        assert out.bench["tokens_per_s"] > 0
        assert pool.engine_starts == 2 and _alive(pid_a)  # two kept: a still runs

        streamed = dict(pool.stream(a, iter([(0, reqs[:2]), (1, reqs[2:])])))
        assert [r.text for g in (0, 1) for r in streamed[g].results] == expected
        assert pool.engine_starts == 2

        c = _spec("c", 3)  # a third model: the least recently used (b) ends
        pid_b = pool.session_for(b).worker_pid
        pool.generate(a, reqs[:1])  # a is now the most recently used
        pool.generate(c, reqs[:1])
        assert pool.engine_starts == 3 and not _alive(pid_b) and _alive(pid_a)
        workers = {pool.session_for(s).worker_pid for s in (a, c)}  # the two kept
        engines = workers.union(*(descendants(w) for w in workers))
        assert None not in workers and all(_alive(p) for p in workers)
    assert not any(_alive(p) for p in engines)  # the block's end ends every engine
    assert pool.engine_starts == 3 and pool.spawn_seconds >= pool.startup_seconds > 0


@pytest.mark.timeout(300)
def test_without_a_pool_each_stage_owns_its_engine():
    assert isinstance(open_session(), EngineSession)
    with pytest.raises(ValueError, match="at least 1"):
        EnginePool(0)
    a = _spec("a", 1)
    with keep_engines(1) as pool:
        pool.generate(a, _requests(1))
        pid = pool.session_for(a).worker_pid
        assert _alive(pid)
    assert not _alive(pid)
    assert isinstance(open_session(), EngineSession)  # the block ended: no pool


class _TrainLike:
    """A stage that computes on the accelerator itself, like training."""

    name, reads, writes = "train_like", (), ()
    uses_accelerator = True

    def run(self, ctx):
        from maga.runs.stage import StageStats

        return StageStats()


@pytest.mark.timeout(300)
def test_a_training_stage_ends_kept_engines_only_where_a_gpu_holds_them(tmp_path, monkeypatch):
    from maga.config import load_config
    from maga.llm import engine_process
    from maga.runs.context import RunContext
    from maga.runs.stage import run_stage

    a = _spec("a", 1)
    ctx = RunContext.create(load_config("tiny", [f"storage.root={tmp_path}"]), "t", "r1")
    with keep_engines(2) as pool:
        pool.generate(a, _requests(1))
        pid = pool.session_for(a).worker_pid
        run_stage(ctx, _TrainLike())  # this machine: CPU build, engines stay (host memory)
        assert _alive(pid) and pool.engine_starts == 1
        monkeypatch.setattr(engine_process, "accelerator_visible", lambda: True)
        run_stage(RunContext.create(ctx.config, "t", "r2"), _TrainLike())
        assert not _alive(pid)  # on a GPU the kept engine ends before training
        pool.generate(a, _requests(1))  # and the next call starts it again
        assert pool.engine_starts == 2


@pytest.mark.timeout(300)
def test_prepare_starts_a_stages_engines_side_by_side():
    from maga.llm.jobs import prepare_engines

    a, b, c = _spec("a", 1), _spec("b", 2), _spec("c", 3)
    prepare_engines([a, b])  # no pool: nothing starts
    with keep_engines(2) as pool:
        pool.prepare([a, b, c])  # more than the pool keeps: left to start when asked
        pool.prepare([a])  # one engine: nothing to overlap
        assert pool.engine_starts == 0
        prepare_engines([a, b, a])
        assert pool.engine_starts == 2
        assert all(_alive(pool.session_for(s).worker_pid) for s in (a, b))
        first = pool.generate(a, _requests(2))
        assert first.startup_seconds > 0  # the start made in advance is reported once
        assert pool.generate(a, _requests(2)).startup_seconds == 0.0
        assert pool.engine_starts == 2
        assert len(pool.generate(b, _requests(3)).results) == 3
