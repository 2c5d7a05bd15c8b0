"""The output modes on real pipeline outputs: the tiny profile's random model served by
the real vLLM engine (one engine for every run: GA-SLM, reformulation SLM and judge are
the same tiny model), three runs over the same shards, then the checks of
tests/megadocs/checks.py and a training mix loaded with ``datasets``."""

from __future__ import annotations

import json

import pytest

from maga.config import MegadocConfig, StretchConfig
from maga.llm.jobs import EngineSession
from maga.models.builtin import resolve_model
from maga.refresh.pipeline import DAG_ID, run_all
from maga.runs.context import RunContext
from maga.storage import Storage
from tests.megadocs.checks import check_documents, check_mix, check_stitch, check_stretch
from tests.refresh.helpers import docs, make_registry, refresh_config, shard_bytes

pytestmark = pytest.mark.slow
COMMON = ("refresh.judge=reformulation_slm", "refresh.judge_sample=3", "refresh.chunk_docs=3",
          "refresh.generations_per_source=7", "refresh.stretch.unit=sentence",
          "refresh.stretch.max_tokens=32", "refresh.megadoc.seed=5")  # fmt: skip


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    root = tmp_path_factory.mktemp("modes")
    storage = Storage()
    make_registry(storage, str(root), resolve_model("builtin:tiny-random"))
    source = root / "src"
    storage.write_bytes(str(source / "a.jsonl"), shard_bytes(docs("a", 3, words=80), "jsonl"))
    storage.write_bytes(str(source / "b.parquet"), shard_bytes(docs("b", 3, start=3), "parquet"))
    session = EngineSession()
    outs = {}
    try:
        for mode in ("documents", "stitch", "stretch"):
            out = root / mode
            cfg = refresh_config(str(root), str(source), str(out), *COMMON,
                                 f"refresh.output_mode={mode}",
                                 "refresh.mix.token_budget=1000000")  # fmt: skip
            run_all(RunContext.create(cfg, DAG_ID, f"e2e-{mode}"), session)
            outs[mode] = out
    finally:
        session.close()
    return outs, session


def test_one_engine_served_every_run(runs):
    assert runs[1].engine_starts == 1


def test_documents_reach_seven_distinct_pairs_per_source(runs):
    counts = check_documents(runs[0]["documents"])
    run = runs[0]["documents"].parent / "runs" / DAG_ID / "e2e-documents" / "report.json"
    totals = json.loads(run.read_text())["totals"]
    # seven distinct pairs written for every source (the GA-SLM gives five a pass) ...
    assert totals["docs"] == 6 and totals["rewrites"] == 7 * totals["docs"]
    # ... and published as at most seven rows per source, all seven for some
    assert max(counts.values()) == 7 and len(counts) <= 6


def test_stitch_every_rewrite_in_exactly_one_megadoc_in_seeded_order(runs):
    got = check_stitch(runs[0]["stitch"], MegadocConfig(seed=5))
    assert got["rewrites"] > got["megadocs"] > 0


def test_stretch_keeps_the_source_intact_apart_from_the_inserts(runs):
    got = check_stretch(runs[0]["stretch"], StretchConfig(unit="sentence", max_tokens=32))
    assert got["inserts"] >= got["docs"] > 0


def test_mix_loads_with_datasets_near_the_declared_proportions(runs):
    # Every mode, so the check covers components of very unequal row lengths (a stitch
    # megadoc against one source paragraph), where independent sampling drifts most.
    for mode in ("documents", "stitch", "stretch"):
        shares = check_mix(runs[0][mode], "maga_mix")
        assert shares == pytest.approx({"real": 0.5, "synthetic": 0.5}, abs=0.01)
