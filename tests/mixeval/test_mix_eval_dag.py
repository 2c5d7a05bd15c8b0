"""The real ``maga_mix_eval`` DAG under ``airflow dags test`` (SQLite, local storage,
``tiny`` profile) on a real refresh output: the refresh pipeline published two shards
and ``export_mix`` wrote its recipes (its model calls answered by the fast tests' fake
session); the DAG reads them through ``load_mix``, trains the proxy per arm and seed,
and records the results in the run summary, the report and the registry of
evaluations. The refresh wrote stitched megadocs (arXiv 2603.18534), so the corpus holds
two output forms: the rewrites one per row and stitched; each is an arm of its own, and
``maga_mix_stitch``, the same mix as ``maga_mix`` here, is trained once. A second run of
the same mix with the same settings trains nothing."""

from __future__ import annotations

import json

import pytest

from maga.corpus.builtin import wiki_records
from maga.storage import Storage
from tests.e2e.airflow_env import airflow_env, dags_test, last_run, migrate
from tests.refresh.conftest import Workspace
from tests.refresh.helpers import docs, register_via_stage

pytestmark = [pytest.mark.slow, pytest.mark.timeout(900)]
FORMS = {"maga_mix_documents", "maga_mix_stitch"}
ARMS = {"maga_mix", "repetition", "repetition_x2", "repetition_x4", "upsample"} | FORMS
FAST = ["mix_eval.proxy.steps=25", "mix_eval.heldout_docs=16"]


@pytest.fixture(scope="module")
def refreshed(tmp_path_factory) -> Workspace:
    """A published corpus with its mixes, and a labeling sample in the registry's run."""
    root = tmp_path_factory.mktemp("mixeval")
    storage = Storage()
    ws = Workspace(root, storage, register_via_stage(storage, str(root)))
    ws.shard("a", docs("a", 6))
    ws.shard("b", docs("b", 6, start=6))
    ws.run("refresh-1", "refresh.output_mode=stitch")
    sample = [{"id": r["id"], "text": r["text"]} for r in wiki_records(["en", "fr", "es"])
              if len(r["text"]) >= 200][:8]  # fmt: skip
    (root / "runs" / "maga_tool_models" / "reg" / "sample").mkdir(parents=True)
    (root / "runs" / "maga_tool_models" / "reg" / "sample" / "sample.jsonl").write_text(
        "".join(json.dumps(d) + "\n" for d in sample)
    )
    return ws


def test_dag_evaluates_every_mix_and_skips_a_rerun(refreshed, tmp_path):
    ws = refreshed
    env = airflow_env(tmp_path / "airflow", ws.root)
    env["MAGA_PROFILE"] = "tiny"
    migrate(env)
    conf = {"profile": "tiny", "output": str(ws.output), "overrides": FAST}
    log = tmp_path / "dag.log"
    dags_test(env, "maga_mix_eval", conf, log)
    tail = "\n".join(log.read_text(errors="replace").splitlines()[-60:])
    run = last_run(env, "maga_mix_eval")
    assert run["state"] == "success", tail
    assert run["tasks"]["plan"] == run["tasks"]["summarise"] == "success", run["tasks"]

    folder = ws.root / "runs" / "maga_mix_eval"
    (first,) = [p for p in folder.iterdir() if p.is_dir()]
    out = json.loads((first / "results" / "results.json").read_text())
    assert set(out["table"]) == ARMS
    assert set(out["recipes"]) == {"maga_mix", "repetition", "upsample"} | FORMS
    for arm in ARMS:
        cell = out["table"][arm]["all"]
        assert cell["seeds"] == 2 and cell["min"] <= cell["mean"] <= cell["max"], arm
        assert {g for g in out["table"][arm] if g.startswith("lang:")}, arm
        runs = out["runs"][arm]
        assert [r["seed"] for r in runs] == [1, 2]
        assert {r["train_tokens"] for r in runs} == {25 * 8 * 128}  # same budget everywhere
        assert 0 < cell["mean"] < 9  # nats over a 2048-token vocabulary: trained, finite
    for recipe in ("maga_mix", "upsample", *FORMS):
        assert out["table"][recipe]["all"]["vs_repetition"] in ("better", "worse", "no difference")
    assert out["efficiency"]["available"]
    assert set(out["efficiency"]["recipes"]) == {"maga_mix", "upsample"} | FORMS
    # the output forms: the same rewrites as separate documents and stitched, same budget
    stitch = out["table"]["maga_mix_stitch"]["all"]
    plain = out["table"]["maga_mix_documents"]["all"]
    assert out["same_as"] == {"maga_mix_stitch": "maga_mix"}  # a stitch corpus: one mix
    assert out["runs"]["maga_mix_stitch"] == out["runs"]["maga_mix"]
    assert out["runs"]["maga_mix_documents"] != out["runs"]["maga_mix"]  # other text
    assert stitch["vs_documents"] in ("better", "worse", "no difference")
    assert stitch["gap_vs_documents"] == round(stitch["mean"] - plain["mean"], 5)
    assert not out["gate"]["enabled"] and out["gate"]["passed"]
    assert "advisory (gate off: random-weight" in out["gate"]["reason"]
    proof = out["data"]["disjointness"]
    assert proof["disjoint"] and proof["excluded_docs"] == {"sources": 12, "labeling_sample": 8}
    assert "sample.jsonl" in out["data"]["labeling_sample"]
    assert out["data"]["refresh"]["run_ids"] == ["refresh-1"]

    summary = json.loads((first / "summary.json").read_text())
    trained = {f"train_{a}" for a in ARMS - {"maga_mix_stitch"}}
    assert {"plan", "results"} | trained <= set(summary["stages"])
    assert "train_maga_mix_stitch" not in summary["stages"]
    assert summary["stages"]["results"]["loss"]["maga_mix"]["mean"] == out["table"][
        "maga_mix"]["all"]["mean"]  # fmt: skip
    page = (first / "mix_eval.html").read_text()
    assert page.count("<svg") == 2 and "repetition_x4" in page and out["fingerprint"] in page
    assert "training loss vs tokens" in page and len(runs[0]["train_curve"]) == 25
    assert f"stitch vs documents: {stitch['vs_documents']}" in page
    assert "maga_mix_stitch = maga_mix" in page
    assert "maga_mix" in (first / "mix_eval.md").read_text()
    registry = ws.root / "evaluations" / "mix_eval" / out["fingerprint"] / "result.json"
    assert json.loads(registry.read_text())["table"] == out["table"]

    # the same mix with the same settings: planned, nothing trained, the result reused
    dags_test(env, "maga_mix_eval", conf, tmp_path / "dag2.log")
    again = last_run(env, "maga_mix_eval")
    assert again["run_id"] != run["run_id"] and again["state"] == "success"
    assert not any(t.startswith("train") and s == "success" for t, s in again["tasks"].items())
    (second,) = [p for p in folder.iterdir() if p.is_dir() and p != first]
    reused = json.loads((second / "results" / "results.json").read_text())
    assert reused["fingerprint"] == out["fingerprint"] and reused["table"] == out["table"]
    assert reused["reused_by"] == str(second) and "reused" in (second / "mix_eval.md").read_text()
    assert not list(second.glob("train_*"))
