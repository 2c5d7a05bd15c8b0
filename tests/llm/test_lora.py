"""Both SLMs as LoRA adapters of one base, served by one vLLM engine (CPU build).

Two random adapters of the tiny model (random B, so each changes the text): a session
given the GA-SLM and reformulation-SLM specs starts exactly one engine, each request
goes through its own spec's adapter, and switching adapters changes no output. A spec
without an adapter is the plain model: same engine settings as before, and the same
text whether or not its engine could serve adapters."""

from __future__ import annotations

from pathlib import Path

import pytest

from maga.config import load_config
from maga.llm.base import GenRequest
from maga.llm.jobs import EngineSession, ModelSpec
from maga.llm.models import student_spec
from maga.models.adapters import write_meta
from maga.models.builtin import TINY, resolve_model

pytestmark = [pytest.mark.slow]
CFG = load_config("tiny", ["student_engine.max_model_len=256", "student_engine.max_num_seqs=8"])


@pytest.fixture(scope="module")
def adapters(tmp_path_factory: pytest.TempPathFactory) -> tuple[str, str, str]:
    from maga.bench.lora_probe import random_adapter

    base = resolve_model(TINY)
    folders = []
    for name, seed in (("ga", 1), ("reform", 2)):
        out = random_adapter(base, tmp_path_factory.mktemp("lora") / name, rank=8, seed=seed)
        write_meta(out, base, rank=8)
        folders.append(str(out))
    return base, folders[0], folders[1]


def _requests(n: int) -> list[GenRequest]:
    return [
        GenRequest(
            messages=[{"role": "user", "content": f"Document {i} about ships."}],
            max_tokens=10 + i % 5,
            temperature=0.8,
            seed=500 + i,
            key=str(i),
        )
        for i in range(n)
    ]


def _texts(outcome) -> list[str]:  # type: ignore[no-untyped-def]
    return [r.text for r in outcome.results]


@pytest.mark.timeout(600)
def test_one_engine_serves_both_adapters(adapters: tuple[str, str, str]) -> None:
    base, ga_dir, reform_dir = adapters
    ga = student_spec(CFG, ga_dir, "ga_slm")  # an adapter folder: served on its base
    rf = student_spec(CFG, reform_dir, "reform_slm")
    assert (ga.path, ga.lora, rf.lora) == (base, ga_dir, reform_dir)
    assert ga.engine == rf.engine and ga.engine["lora"] == {"max_rank": 8, "max_loras": 2}
    assert EngineSession._engine_key(ga) == EngineSession._engine_key(rf)
    plain = student_spec(CFG, base, "plain")
    assert plain.lora is None and plain.engine == CFG.student_engine.model_dump()

    reqs = _requests(12)
    with EngineSession() as session:
        a = _texts(session.generate(ga, reqs))
        b = _texts(session.generate(rf, reqs))
        streamed = dict(session.stream(rf, iter([(0, reqs[:5]), (1, reqs[5:])])))
        a_again = _texts(session.generate(ga, reqs))
        # The base itself through the same engine: a spec with no adapter, same settings.
        no_adapter = ModelSpec(label="base", path=base, engine=ga.engine, seed=ga.seed)
        base_via_lora_engine = _texts(session.generate(no_adapter, reqs))
        assert session.engine_starts == 1  # one engine for both SLMs (and the base)
    assert a == a_again  # serving the other adapter in between changed nothing
    assert _texts(streamed[0]) + _texts(streamed[1]) == b
    assert sum(x != y for x, y in zip(a, b, strict=True)) >= len(reqs) // 2
    assert sum(x != y for x, y in zip(a, base_via_lora_engine, strict=True)) >= len(reqs) // 2

    with EngineSession() as session:  # today's path: no adapter, no LoRA in the engine
        base_plain = _texts(session.generate(plain, reqs))
        assert session.engine_starts == 1
    assert base_plain == base_via_lora_engine


@pytest.mark.timeout(300)
def test_adapter_request_on_an_engine_without_lora_fails_clearly(
    adapters: tuple[str, str, str],
) -> None:
    base, ga_dir, _ = adapters
    spec = ModelSpec(label="x", path=base, engine=CFG.student_engine.model_dump(), lora=ga_dir)
    with EngineSession() as session, pytest.raises(Exception, match="without LoRA"):
        session.generate(spec, _requests(1))


def test_adapter_meta_points_at_its_base(adapters: tuple[str, str, str]) -> None:
    from maga.models.adapters import base_of, rank_of

    base, ga_dir, _ = adapters
    assert Path(base_of(ga_dir)) == Path(base) and rank_of(ga_dir) == 8
