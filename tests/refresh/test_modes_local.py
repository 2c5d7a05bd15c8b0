"""The three output modes and the training-mix export through the whole refresh
pipeline with a scripted model (fast). The same checks run on a real vLLM engine in
tests/megadocs/test_modes_e2e.py."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from maga.config import MegadocConfig, StretchConfig
from maga.megadocs.passages import insert_points
from tests.megadocs.checks import check_documents, check_mix, check_stitch, check_stretch
from tests.refresh.helpers import docs


@pytest.fixture
def source(ws):
    ws.shard("a", docs("a", 5))
    ws.shard("b", docs("b", 4, words=90), "parquet")
    return ws


def test_documents_with_more_generations_than_one_pass(source):
    ctx = source.run("r1", "refresh.generations_per_source=8")
    counts = check_documents(source.output)
    assert set(counts.values()) == {8}  # 5 + 3 from a second GA round
    reform = json.loads(Path(ctx.uri("reformulate", "stats.json")).read_text())
    assert reform["docs_in"] == 9


def test_stitch_megadocs_and_reproducible_order(source, tmp_path):
    source.run("r1", "refresh.output_mode=stitch", "refresh.megadoc.seed=11")
    got = check_stitch(source.output, MegadocConfig(seed=11))
    assert got == {"megadocs": 9, "rewrites": 45}
    other = tmp_path / "omit"
    source.run(
        "r2",
        "refresh.output_mode=stitch",
        "refresh.megadoc.original=omit",
        "refresh.megadoc.separator=<SEP>",
        output=str(other),
    )
    check_stitch(other, MegadocConfig(original="omit", separator="<SEP>"))


def test_stretch_keeps_the_source_and_judges_inserts(source):
    ctx = source.run(
        "r1",
        "refresh.output_mode=stretch",
        "refresh.stretch.unit=sentence",
        "refresh.stretch.max_inserts=3",
    )
    got = check_stretch(source.output, StretchConfig(unit="sentence", max_inserts=3))
    passages = [len(insert_points(d["text"], "sentence", 3))
                for d in docs("a", 5) + docs("b", 4, words=90)]  # fmt: skip
    assert got["docs"] == 9 and got["inserts"] == sum(passages) and max(passages) == 3
    judged = json.loads(Path(ctx.uri("report.json")).read_text())["totals"]
    assert judged["judged"] > 0 and judged["low_scores"] == 0


def test_switching_mode_reprocesses_published_shards(source):
    source.run("r1")
    second = source.run("r2", "refresh.output_mode=stitch")
    report = json.loads(Path(second.uri("report.json")).read_text())
    assert report["shard_counts"]["stale"] == 2
    manifest = source.manifest()
    assert {e["output_mode"] for e in manifest["shards"].values()} == {"stitch"}
    got = check_stitch(source.output, MegadocConfig())
    card = (source.output / "README.md").read_text()
    assert "- megadocs" in card and "Output mode: `stitch` (2 shards)" in card
    assert f"| rows published | {got['megadocs']} |" in card
    tokens = sum(e["stats"]["output_tokens"] for e in manifest["shards"].values())
    assert f"/ {tokens:,} |" in card


def test_mix_manifests_load_with_the_declared_proportions(source):
    settings = ("refresh.mix.token_budget=1000000", "refresh.mix.synthetic_share=0.6")
    ctx = source.run("r1", *settings)
    mixes = source.output / "mixes"
    summary = json.loads((mixes / "summary.json").read_text())
    assert set(summary["written"]) == {"maga_mix", "repetition", "upsample"}
    assert summary["modes"]["documents"]["rows"] == 45
    maga = json.loads((mixes / "maga_mix.json").read_text())
    parts = {p["name"]: p for p in maga["components"]}
    assert parts["synthetic"]["token_share"] == 0.6 and parts["real"]["epochs"] > 1
    for recipe in ("maga_mix", "upsample"):  # repetition has one component
        check_mix(source.output, recipe)
    stats = json.loads(Path(ctx.uri("export_mix", "stats.json")).read_text())
    assert stats["docs_out"] == 3 and stats["dropped"] == {}
    before = {p.name: p.read_bytes() for p in mixes.iterdir()}
    source.run("r2", *settings)  # nothing new: the manifests stay byte-identical
    assert {p.name: p.read_bytes() for p in mixes.iterdir()} == before


def test_report_shows_megadoc_lengths_and_tokens_per_mode(source):
    from maga.report import build_report

    ctx = source.run("r1", "refresh.output_mode=stitch")
    html = Path(build_report(ctx.run_uri, data_docs=False, with_embeddings=False)).read_text()
    section = html.split('<section id="output-form">', 1)[1].split("</section>", 1)[0]
    assert '<td class="n" id="output-modes">stitch</td>' in section
    assert "Length in tokens" in section and "<svg" in section
    mix = json.loads((source.output / "mixes" / "summary.json").read_text())
    tokens = mix["modes"]["stitch"]["tokens"]
    assert tokens > 0 and (f"{tokens:,}" in section or str(tokens) in section)
    # a stitch corpus holds two forms: its megadocs and the rewrites they are made of
    assert "maga_mix, maga_mix_documents, maga_mix_stitch, repetition, upsample" in section


def test_each_output_form_gets_its_own_maga_mix(ws):
    """A corpus whose output mode changed between refreshes holds three forms: shard c
    in stretch, b in stitch, a in documents (one shard per run: the stale ones wait).
    Besides maga_mix over all of them, export_mix writes maga_mix_<form> at the same
    budget and share; the documents form also takes the rewrites of b's megadocs."""
    settings = ("refresh.mix.token_budget=1000000", "refresh.shard_limit=1")
    for i, (name, mode) in enumerate((("c", "stretch"), ("b", "stitch"), ("a", "documents"))):
        ws.shard(name, docs(name, 3, start=3 * i))
        ctx = ws.run(f"r-{name}", *settings, f"refresh.output_mode={mode}")
    shards = {Path(u).stem: e for u, e in ws.manifest()["shards"].items()}
    assert {k: e["output_mode"] for k, e in shards.items()} == {
        "a": "documents", "b": "stitch", "c": "stretch"}  # fmt: skip
    mixes = ws.output / "mixes"
    summary = json.loads((mixes / "summary.json").read_text())
    forms = {"maga_mix_documents", "maga_mix_stitch", "maga_mix_stretch"}
    assert set(summary["written"]) == {"maga_mix", "repetition", "upsample"} | forms
    plain = json.loads((mixes / "maga_mix.json").read_text())
    expect = {"maga_mix_documents": [shards["a"]["output"], shards["b"]["generations"]],
              "maga_mix_stitch": [shards["b"]["output"]],
              "maga_mix_stretch": [shards["c"]["output"]]}  # fmt: skip
    for name, files in expect.items():
        mix = json.loads((mixes / f"{name}.json").read_text())
        parts = {p["name"]: p for p in mix["components"]}
        assert mix["token_budget"] == plain["token_budget"] == 1_000_000
        assert mix["output_form"] == name.removeprefix("maga_mix_")
        assert parts["real"]["files"] == plain["components"][0]["files"]  # same real half
        assert sorted(parts["synthetic"]["files"]) == sorted(files), name
        assert parts["synthetic"]["token_share"] == 0.5
    stats = json.loads(Path(ctx.uri("export_mix", "stats.json")).read_text())
    assert (stats["docs_in"], stats["docs_out"], stats["dropped"]) == (6, 6, {})
    shares = check_mix(ws.output, "maga_mix_documents")  # data and generations files
    assert shares["synthetic"] == pytest.approx(0.5, abs=0.01)
