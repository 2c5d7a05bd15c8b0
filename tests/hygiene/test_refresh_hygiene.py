"""The hygiene steps inside the corpus refresh, on a crafted corpus with known answers
(fast: ``FakeSession`` writes each rewrite as the document minus every fifth word, at a
different offset per pair, so every rewrite of a document is in its language).

Run 1, shard ``a``: a document labelled ``es`` but written in English (5 language
mismatches), one whose rewrite #1 is the "quiz" benchmark's item (1 contaminated
rewrite), one containing a "trivia" benchmark sentence (source checked: 5 rewrites),
one with an e-mail address and a phone number (placeholders), one in Chinese without a
language field. Shard ``b``: a copy of ``a``'s first document under another id (5
near-duplicates across shards of the same run, removed by publish). Run 2, shard ``c``:
a copy of ``a``'s second document (5 near-duplicates of published rows, at clean)."""

import json
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from maga.refresh.pipeline import DAG_ID, run_all
from maga.runs.context import RunContext
from maga.storage import Storage
from tests.hygiene.crafted import wiki
from tests.hygiene.test_language import CHINESE
from tests.refresh.conftest import FAST, Workspace
from tests.refresh.helpers import FakeSession, make_registry, refresh_config

pytestmark = pytest.mark.timeout(600)
EMAIL, PHONE = "jane.doe@example.org", "+44 20 7946 0958"


def _rewrite(text: str, k: int) -> str:
    """What FakeSession writes for pair ``k`` of a document (see tests/refresh/helpers)."""
    return " ".join(w for i, w in enumerate(text.split()) if (i + k) % (5 + k // 5))


@pytest.fixture
def ws(tmp_path: Path) -> Workspace:
    storage = Storage()
    make_registry(storage, str(tmp_path), str(tmp_path / "no-model-needed"))
    return Workspace(tmp_path, storage)


def _config(ws: Workspace, bench_dir: Path, *extra: str):
    fast = [f for f in FAST if not f.startswith("refresh.hygiene.near_dup")]
    benches = [{"name": "quiz", "uri": str(bench_dir / "quiz.jsonl"), "fields": ["question"]},
               {"name": "trivia", "uri": str(bench_dir / "trivia.txt")}]  # fmt: skip
    return refresh_config(str(ws.root), ws.source, str(ws.output), *fast,
                          f"refresh.hygiene.decontam.benchmarks={json.dumps(benches)}",
                          "refresh.hygiene.decontam.check_sources=true", *extra)  # fmt: skip


def _run(ws, run_id, cfg):
    ctx = RunContext.create(cfg, DAG_ID, run_id)
    run_all(ctx, FakeSession(boilerplate=False))  # a shard of 2 documents learns none
    return ctx


def _rejects(out: Path) -> list[dict]:
    return [r for p in (out / "rejects").glob("*.parquet") for r in pq.read_table(p).to_pylist()]


def _data(out: Path) -> list[dict]:
    return [r for p in (out / "data").glob("*.parquet") for r in pq.read_table(p).to_pylist()]


def test_crafted_corpus_counts_funnel_report_card(ws, tmp_path):
    en = [" ".join(t.split()[:70]) for t in wiki("en", 9)]
    bench_dir = tmp_path / "bench"
    bench_dir.mkdir()
    quiz_item = " ".join(_rewrite(en[2], 1).split()[:30])
    (bench_dir / "quiz.jsonl").write_text(json.dumps({"question": quiz_item, "answer": "A"}) + "\n")
    (bench_dir / "trivia.txt").write_text(" ".join(en[3].split()[10:30]) + "\n")
    a = [
        {"id": "a-0", "text": en[0], "lang": "en"},
        {"id": "a-1", "text": en[1], "lang": "en"},
        {"id": "a-leak", "text": en[2], "lang": "en"},
        {"id": "a-bench", "text": en[3], "lang": "en"},
        {"id": "a-mis", "text": en[4], "lang": "es"},
        {"id": "a-pii", "text": f"{en[5]} Write to {EMAIL} or call {PHONE} today.", "lang": "en"},
        {"id": "a-zh", "text": "".join(CHINESE)},
    ]
    ws.shard("a", a)
    ws.shard("b", [{"id": "b-0", "text": en[0], "lang": "en"},
                   {"id": "b-1", "text": en[6], "lang": "en"}])  # fmt: skip
    cfg = _config(ws, bench_dir)
    ctx = _run(ws, "r1", cfg)

    report = json.loads(Path(ctx.uri("report.json")).read_text())
    h = report["hygiene"]
    assert h["dropped"]["language_mismatch"] == 5
    assert h["dropped"]["contaminated"] == 1
    assert h["dropped"]["source_contaminated"] == 5
    assert h["dropped"]["near_duplicate_corpus"] == 5
    assert h["dropped"]["source_near_duplicate"] == 0
    assert h["contaminated_by_benchmark"] == {"quiz": 1, "trivia": 1}  # rewrite / source
    assert h["changed"]["pii_redacted"] >= 3 and h["pii_by_kind"]["email"] >= 3
    assert h["languages_in"]["zh"] == 1 and h["languages_in"]["es"] == 1
    assert h["languages_out"]["zh"] >= 1 and "es" not in h["languages_out"]
    assert all(v is not None for v in h["seconds_per_10k_rewrites"].values())

    rej = {r["rewrite_id"]: r for r in _rejects(ws.output) if r["rewrite_id"]}
    assert rej["a-leak#1"]["reason"] == "contaminated"
    assert rej["a-leak#1"]["detail"].startswith("quiz: '")
    assert {k for k, r in rej.items() if r["reason"] == "source_contaminated"} == {
        f"a-bench#{k}" for k in range(5)
    }
    assert rej["a-bench#0"]["detail"].startswith("trivia: ")
    assert {k for k, r in rej.items() if r["reason"] == "language_mismatch"} == {
        f"a-mis#{k}" for k in range(5)
    }
    assert rej["a-mis#0"]["detail"].startswith("en (") and rej["a-mis#0"]["detail"].endswith("es")
    dups = {k: r for k, r in rej.items() if r["reason"] == "near_duplicate_corpus"}
    assert set(dups) == {f"b-0#{k}" for k in range(5)}
    assert dups["b-0#2"]["detail"].startswith("near a-0#2 (shard a-")

    data = _data(ws.output)
    texts = "\n".join(r["text"] for r in data)
    assert EMAIL not in texts and "<EMAIL>" in texts
    assert not any(r["source_id"] in ("a-mis", "a-bench", "b-0") for r in data)
    assert "a-leak#1" not in {r["id"] for r in data}

    # funnel (summary), report.md, card, gate metrics
    summary = json.loads(Path(ctx.uri("summary.json")).read_text())
    clean = summary["stages"]["clean"]
    assert clean["dropped"]["near_duplicate_corpus"] == 5
    assert clean["dropped"]["language_mismatch"] == 5
    assert clean["changed"]["pii_redacted"] == h["changed"]["pii_redacted"]
    md = Path(ctx.uri("report.md")).read_text()
    assert "## Corpus hygiene" in md and "| language_mismatch | 5 | a-mis#" in md
    assert "quiz 1 contaminated (1 items)" in md
    card = (ws.output / "README.md").read_text()
    assert "| language_mismatch | 5 |" in card and "| pii_redacted |" in card
    assert "- zh" in card and "MinHash-LSH" in card and "quiz, trivia" in card
    gate = json.loads(Path(ctx.uri("gates", "refresh_aggregate", "gate.json")).read_text())
    names = {c["name"] for c in gate["checks"]}
    assert {"language_mismatch_share", "near_duplicate_share", "contaminated_share",
            "pii_row_share"} <= names  # fmt: skip
    from maga.report.build import build_report

    html = Path(build_report(ctx.run_uri, data_docs=False, with_embeddings=False)).read_text()
    assert '<section id="hygiene">' in html and '<table id="cost-plan">' in html
    assert '<td>near_duplicate_corpus</td><td class="n">5</td>' in html
    index = list((ws.output / "dedup").glob("minhash-*/*.parquet"))
    assert len(index) == 2

    # run 2: a new shard repeating a published document is caught at clean
    ws.shard("c", [{"id": "c-0", "text": en[1], "lang": "en"},
                   {"id": "c-1", "text": en[7], "lang": "en"}])  # fmt: skip
    ctx2 = _run(ws, "r2", cfg)
    h2 = json.loads(Path(ctx2.uri("report.json")).read_text())["hygiene"]
    assert h2["dropped"]["near_duplicate_corpus"] == 5
    assert h2["near_dup_index_rows_at_start"] > 0
    rej2 = {r["rewrite_id"]: r for r in _rejects(ws.output) if r["rewrite_id"]}
    assert rej2["c-0#3"]["detail"].startswith("near a-1#3 (shard a-")
    assert len(list((ws.output / "dedup").glob("minhash-*/*.parquet"))) == 3


def test_language_mismatch_share_stops_the_shard(ws, tmp_path):
    en = [" ".join(t.split()[:70]) for t in wiki("en", 2, skip=20)]
    ws.shard("m", [{"id": "m-0", "text": en[0], "lang": "fr"},
                   {"id": "m-1", "text": en[1], "lang": "en"}])  # fmt: skip
    cfg = refresh_config(str(ws.root), ws.source, str(ws.output), *FAST,
                         "refresh.hygiene.language.max_mismatch_share=0.2")  # fmt: skip
    ctx = RunContext.create(cfg, DAG_ID, "r1")
    from maga.refresh.pipeline import RefreshIncomplete

    with pytest.raises(RefreshIncomplete, match="language_mismatch_share"):
        run_all(ctx, FakeSession())
    report = json.loads(Path(ctx.uri("report.json")).read_text())
    (shard,) = report["shards"]
    assert shard["outcome"] == "stopped" and shard["failed_step"] == "validate"
    assert shard["dropped"]["language_mismatch"] == 5
