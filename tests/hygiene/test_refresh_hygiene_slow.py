"""The real corpus refresh (tiny random model in real vLLM engines, local storage) with
the hygiene steps on: their reasons reach the funnel, the report and the dataset card,
and the cost plan is shown beside what the run spent.

The tiny model writes token soup, so the test relies on reasons that do not depend on
what it writes: a source containing a benchmark sentence (``source_contaminated``, the
source check on) and a source repeated under another id (``source_near_duplicate``,
sources indexed). Language and PII figures are reported whatever they are."""

import json
from pathlib import Path

import pytest

from maga.config import load_config
from maga.llm.jobs import EngineSession
from maga.models.builtin import resolve_model
from maga.refresh.pipeline import DAG_ID, run_all
from maga.runs.context import RunContext
from maga.storage import Storage
from tests.hygiene.crafted import wiki
from tests.refresh.helpers import make_registry, shard_bytes

pytestmark = [pytest.mark.slow, pytest.mark.timeout(1500)]


def test_real_refresh_shows_hygiene(tmp_path, monkeypatch):
    monkeypatch.setenv("MAGA_MODEL_CACHE", str(tmp_path / "model-cache"))
    storage = Storage()
    make_registry(storage, str(tmp_path), resolve_model("builtin:tiny-random"))
    texts = [" ".join(t.split()[:60]) for t in wiki("en", 5)]
    bench = tmp_path / "bench.txt"
    bench.write_text(" ".join(texts[1].split()[5:25]) + "\n")
    records = [{"id": f"d-{i}", "text": t, "lang": "en"} for i, t in enumerate(texts)]
    records.append({"id": "d-copy", "text": texts[0], "lang": "en"})
    (tmp_path / "src").mkdir()
    (tmp_path / "src" / "a.jsonl").write_bytes(shard_bytes(records, "jsonl"))
    benches = json.dumps([{"name": "trivia", "uri": str(bench)}])
    cfg = load_config("tiny", [
        f"storage.root={tmp_path}", f"refresh.source_uri={tmp_path / 'src'}",
        "refresh.chunk_docs=3", "refresh.judge=reformulation_slm", "refresh.judge_sample=2",
        f"refresh.hygiene.decontam.benchmarks={benches}",
        "refresh.hygiene.decontam.check_sources=true",
        "refresh.hygiene.near_dup.include_sources=true",
        # shares are high on purpose here (one contaminated and one repeated source in six)
        "refresh.hygiene.near_dup.max_share=1.0", "refresh.hygiene.decontam.max_share=1.0",
        "refresh.gates.advisory.min_kept_share=0.6",
    ])  # fmt: skip
    ctx = RunContext.create(cfg, DAG_ID, "real")
    session = EngineSession()
    try:
        run_all(ctx, session)
    finally:
        session.close()
    report = json.loads(Path(ctx.uri("report.json")).read_text())
    h = report["hygiene"]
    assert h["dropped"]["source_contaminated"] >= 1
    assert h["dropped"]["source_near_duplicate"] >= 1
    assert h["contaminated_by_benchmark"] == {"trivia": 1}
    assert h["languages_in"] == {"en": 6}
    assert sum(h["languages_out"].values()) == report["totals"]["kept"]
    assert set(h["seconds_per_10k_rewrites"]) == {"language", "near_dup", "decontam", "pii"}
    summary = json.loads(Path(ctx.uri("summary.json")).read_text())
    funnel = summary["stages"]["clean"]["dropped"]
    assert funnel["source_contaminated"] == h["dropped"]["source_contaminated"]
    assert funnel["source_near_duplicate"] == h["dropped"]["source_near_duplicate"]
    md = Path(ctx.uri("report.md")).read_text()
    assert "## Corpus hygiene" in md and "| source_contaminated |" in md
    assert "## Cost plan" in md and "| completion_tokens |" in md
    card = (tmp_path / "corpus" / "maga" / "README.md").read_text()
    assert "| source_contaminated |" in card and "| source_near_duplicate |" in card
    cmp = report["cost_plan"]["compared"]
    assert cmp["actual"]["docs"] == cmp["estimate"]["docs"] == 6
    assert cmp["actual"]["completion_tokens"] > 0 and cmp["estimate"]["completion_tokens"] > 0
    print("cost plan vs actual:", json.dumps(cmp))
    print("hygiene:", json.dumps({k: h[k] for k in ("dropped", "changed", "languages_out",
                                                   "seconds_per_10k_rewrites")}))  # fmt: skip
