"""The cost plan: token arithmetic with known answers, a dry run's summary and report,
throughput recorded by a real run and used by the next plan, estimate beside actual."""

import json
from pathlib import Path

import pytest

from maga import throughput
from maga.config import load_config
from maga.refresh.costplan import (
    estimate_shard,
    last_throughput,
    record_throughput,
    student_precision,
)
from maga.refresh.pipeline import DAG_ID, run_all
from maga.runs.context import RunContext
from maga.storage import Storage
from tests.hygiene.crafted import wiki
from tests.refresh.conftest import FAST, Workspace
from tests.refresh.helpers import FakeSession, make_registry, refresh_config

pytestmark = pytest.mark.timeout(300)


def test_estimate_arithmetic():
    cfg = load_config("tiny", ["generation.max_input_chars=1000", "refresh.generations_per_source=7",
                               "generation.pairs_per_doc=5", "generation.rewrite_max_tokens=48",
                               "generation.ga_max_tokens=320", "refresh.judge_sample=4",
                               "generation.judge_max_tokens=48",
                               "refresh.hygiene.cost_plan.prompt_overhead_tokens=100"])  # fmt: skip
    # two sampled documents of 400 and 2000 chars (the second truncated to 1000), 4 chars
    # per token: units of 100 and 250 tokens; 10 documents like them in the shard
    est = estimate_shard([400, 2000], 10, cfg, 4.0)
    rounds = 2  # ceil(7 / 5) GA calls per document
    ga_p, ga_c = (200 + 350) * rounds, 2 * rounds * 320
    rw_p, rw_c = (200 + 350) * 7, (48 + 48) * 7
    j_p, j_c = 4 * (175 + 48 + 100), 4 * 48
    assert est["requests"] == {"ga": 20, "rewrite": 70, "judge": 4}
    assert est["prompt_tokens"] == round((ga_p + rw_p) * 5 + j_p)
    assert est["completion_tokens"] == round((ga_c + rw_c) * 5 + j_c)
    split = load_config("tiny", ["refresh.long_doc_policy=split", "refresh.max_parts=4",
                                 "generation.max_input_chars=1000"])  # fmt: skip
    assert estimate_shard([2500], 1, split, 4.0)["units"] == 3


def test_throughput_records_newest_same_model_first(tmp_path):
    cfg = load_config("tiny", [f"storage.root={tmp_path}"])
    storage = Storage()
    assert last_throughput(storage, cfg, "m1") is None
    record_throughput(storage, cfg, source="bench", model="m1", completion_tokens=1000,
                      prompt_tokens=10, seconds=10.0)  # fmt: skip
    record_throughput(storage, cfg, source="run x", model="m2", completion_tokens=500,
                      prompt_tokens=10, seconds=10.0)  # fmt: skip
    assert last_throughput(storage, cfg, "m1")["tokens_per_s"] == 100.0
    assert last_throughput(storage, cfg, "m2")["tokens_per_s"] == 50.0
    assert last_throughput(storage, cfg, "m3")["source"] == "run x"  # newest, any model
    files = list(Path(throughput.folder(str(tmp_path))).glob("*.json"))
    assert len(files) == 2 and throughput.hardware()["cpu_cores"] >= 1


def test_dry_run_plan_then_real_run_estimate_beside_actual(tmp_path):
    storage = Storage()
    make_registry(storage, str(tmp_path), str(tmp_path / "no-model"))
    ws = Workspace(tmp_path, storage)
    texts = wiki("en", 12)
    ws.shard("a", [{"id": f"a-{i}", "text": t, "lang": "en"} for i, t in enumerate(texts[:5])])
    ws.shard("b", [{"id": f"b-{i}", "text": t, "lang": "en"} for i, t in enumerate(texts[5:])])

    def ctx_for(run_id, *extra):
        cfg = refresh_config(str(ws.root), ws.source, str(ws.output), *FAST, *extra)
        return RunContext.create(cfg, DAG_ID, run_id)

    dry = ctx_for("dry", "refresh.dry_run=true")
    run_all(dry, FakeSession())
    summary = json.loads(Path(dry.uri("summary.json")).read_text())
    cp = summary["stages"]["discover"]["cost_plan"]
    assert cp["docs"] == 12 and cp["prompt_tokens"] > 0 and cp["completion_tokens"] > 0
    assert sorted(v["docs"] for v in cp["per_shard"].values()) == [5, 7]
    assert cp["worker_hours"] is None and cp["throughput"] is None  # nothing measured yet
    report = json.loads(Path(dry.uri("report.json")).read_text())
    assert report["cost_plan"]["compared"] is None
    md = Path(dry.uri("report.md")).read_text()
    assert "## Cost plan" in md and "| **total** | 12 |" in md and "run `maga bench`" in md
    assert not (ws.output / "data").exists()
    from maga.report.build import build_report

    html = Path(build_report(dry.run_uri, data_docs=False, with_embeddings=False)).read_text()
    assert '<table id="cost-plan">' in html and "estimate, total" in html

    real = ctx_for("real")
    run_all(real, FakeSession())
    report = json.loads(Path(real.uri("report.json")).read_text())
    cmp = report["cost_plan"]["compared"]
    assert cmp["actual"]["docs"] == 12 == cmp["estimate"]["docs"]
    assert cmp["actual"]["completion_tokens"] == report["totals"]["completion_tokens"] > 0
    assert "| completion_tokens |" in Path(real.uri("report.md")).read_text()

    # the real run recorded its throughput: the next plan turns tokens into worker-hours
    ws.shard("c", [{"id": "c-0", "text": texts[0] + " more", "lang": "en"}])
    again = ctx_for("dry2", "refresh.dry_run=true")
    run_all(again, FakeSession())
    plan = json.loads(Path(again.uri("report.json")).read_text())["cost_plan"]["plan"]
    tps = plan["throughput"]["tokens_per_s"]
    assert plan["throughput"]["source"] == "refresh real" and tps > 0
    assert plan["total"]["worker_hours"] == round(
        plan["total"]["completion_tokens"] / tps / 3600, 4
    )
    # ... and its actual / estimated tokens calibrate the next estimate
    cal = cmp["calibration"]
    assert cal["chars_per_token"] == report["cost_plan"]["plan"]["chars_per_token"]
    assert plan["chars_per_token"] == cal["chars_per_token"]  # estimated as when calibrated
    assert plan["calibration"] == {k: cal[k] for k in ("prompt_tokens", "completion_tokens")}
    assert cal["completion_tokens"] > 0
    (shard,) = plan["shards"]
    raw = shard["uncalibrated"]["prompt_tokens"]
    assert shard["prompt_tokens"] == round(raw * cal["prompt_tokens"])


def test_unreadable_shard_does_not_stop_the_plan(tmp_path):
    storage = Storage()
    make_registry(storage, str(tmp_path), str(tmp_path / "no-model"))
    ws = Workspace(tmp_path, storage)
    ws.shard("good", [{"id": "g-0", "text": wiki("en", 1)[0], "lang": "en"}])
    (tmp_path / "src" / "broken.parquet").write_bytes(b"not parquet at all")
    cfg = refresh_config(str(ws.root), ws.source, str(ws.output), *FAST, "refresh.dry_run=true")
    ctx = RunContext.create(cfg, DAG_ID, "dry")
    run_all(ctx, FakeSession())
    plan = json.loads(Path(ctx.uri("report.json")).read_text())["cost_plan"]["plan"]
    by_key = {s["key"].split("-")[0]: s for s in plan["shards"]}
    assert by_key["good"]["docs"] == 1 and not by_key["good"]["error"]
    assert by_key["broken"]["docs"] == 0 and "Parquet" in by_key["broken"]["error"]


def test_plan_uses_a_maga_bench_measurement(tmp_path):
    """``maga bench`` records only the fields every entry has; a refresh planned after it
    (``make bench`` then ``make demo``) turns tokens into worker-hours with its tok/s."""
    storage = Storage()
    make_registry(storage, str(tmp_path), str(tmp_path / "no-model"))
    ws = Workspace(tmp_path, storage)
    ws.shard("a", [{"id": f"a-{i}", "text": t, "lang": "en"} for i, t in enumerate(wiki("en", 3))])
    cfg = refresh_config(str(ws.root), ws.source, str(ws.output), *FAST, "refresh.dry_run=true")
    throughput.record({"source": "maga bench (corpus stage, rewrite pass, CPU)",
                       "model": "elsewhere/tiny-random", "hardware": throughput.hardware(),
                       "precision": student_precision(cfg),
                       "tokens_per_s": 250.0, "ratio_pipeline_one_batch": 0.98},
                      str(ws.root), storage)  # fmt: skip
    ctx = RunContext.create(cfg, DAG_ID, "dry")
    run_all(ctx, FakeSession())
    plan = json.loads(Path(ctx.uri("report.json")).read_text())["cost_plan"]["plan"]
    assert plan["throughput"]["source"].startswith("maga bench")
    total = plan["total"]
    assert total["worker_hours"] == round(total["completion_tokens"] / 250.0 / 3600, 4) > 0
    assert "250.0 completion tokens/s (maga bench" in Path(ctx.uri("report.md")).read_text()
