"""End to end: the real ``maga_tool_models`` DAG under ``airflow dags test`` on the
tiny profile, with real vLLM, real training, real quantization and real
great-expectations; and a gate that blocks everything downstream."""

from __future__ import annotations

import json
import re
import subprocess
import time
from pathlib import Path

import pytest

from tests.e2e.airflow_env import AIRFLOW, ApiServer, airflow_env, dags_test, last_run, migrate

pytestmark = [pytest.mark.slow, pytest.mark.timeout(3600)]  # a whole DAG on CPU

DAG = "maga_tool_models"
STEPS_AFTER_SAMPLE_GATE = ["teacher_genre_audience", "teacher_reformulate", "register_tool_models"]


@pytest.fixture(scope="module")
def airflow(tmp_path_factory):
    home = tmp_path_factory.mktemp("airflow")
    store = tmp_path_factory.mktemp("store")
    # a progress line after every request that ends 1 ms or more after the last line: on
    # a quiet machine the tiny teacher generates a whole stage in under a second, so a
    # 1 s interval logged nothing there (the check then failed on a fast machine only)
    env = {**airflow_env(home, store), "MAGA_PROGRESS_EVERY_S": "0.001"}
    migrate(env)
    return env, store, home


def _tail(log: Path) -> str:
    return "\n".join(log.read_text(errors="replace").splitlines()[-60:])


def test_blocking_gate_stops_downstream(airflow):
    env, store, home = airflow
    log = home / "blocked.log"
    conf = {"profile": "tiny", "overrides": ["gates.sample_min_docs=500"]}
    dags_test(env, "maga_tool_models", conf, log)
    run = last_run(env, "maga_tool_models")
    assert run["state"] == "failed", _tail(log)
    assert run["tasks"]["sample_labeling_data"] == "success"
    assert run["tasks"]["gate_sample"] == "failed"
    assert run["tries"]["gate_sample"] == 1  # a gate's verdict is not retried
    for task in STEPS_AFTER_SAMPLE_GATE:
        assert run["tasks"][task] == "upstream_failed"
    assert "gate failed: sample: rows 16 < 500" in log.read_text()
    gate_files = list(store.glob("runs/maga_tool_models/*/gates/sample/gate.json"))
    assert len(gate_files) == 1
    result = json.loads(gate_files[0].read_text())
    assert result["passed"] is False and "rows" in result["reason"]
    summary = json.loads((gate_files[0].parents[2] / "summary.json").read_text())
    assert summary["gates"]["sample"]["passed"] is False
    assert not (store / "registry").exists()
    assert run["tasks"]["build_data_quality_report"] == "success"
    assert (gate_files[0].parents[2] / "report.html").exists()


def _answer_review(api: ApiServer, proc: subprocess.Popen, store: Path, log: Path) -> dict:
    """The review before register_tool_models, answered through the real REST API while
    ``airflow dags test`` waits: Reject without a comment (not taken: the review opens
    again, nothing decided), then Approve. What was seen on the way."""
    hitl = f"/api/v2/dags/{DAG}/dagRuns/~/hitlDetails?task_id=review_tool_models"

    def wait(what: str, ready) -> dict:
        deadline = time.monotonic() + 2400  # the whole DAG runs before the review
        while True:
            status, body = api("GET", hitl)
            assert status == 200, body
            found = (body["hitl_details"] or [None])[-1]
            if found and found["task_instance"]["state"] in ("failed", "upstream_failed"):
                raise AssertionError(f"review {found['task_instance']['state']}: {_tail(log)}")
            if found and ready(found):
                return found
            assert proc.poll() is None, f"dags test ended ({proc.returncode}): {_tail(log)}"
            assert time.monotonic() < deadline, f"{what} not seen: {_tail(log)}"
            time.sleep(1)

    def waiting(d: dict) -> bool:
        return d["task_instance"]["state"] == "awaiting_input" and not d["response_received"]

    seen = {"asked": wait("the review", waiting)}
    run_id = seen["asked"]["task_instance"]["dag_run_id"]
    answer = f"/api/v2/dags/{DAG}/dagRuns/{run_id}/taskInstances/review_tool_models/-1/hitlDetails"
    status, body = api("PATCH", answer, {"chosen_options": ["Reject"],
                                         "params_input": {"comment": ""}})  # fmt: skip
    assert status == 200, body
    # the PATCH answered it (response received, task scheduled): waiting again = reopened
    kept = f"runs/{DAG}/*/review/refused.json"
    seen["reopened"] = wait("the review open again", lambda d: waiting(d) and any(store.glob(kept)))
    refused = sorted(store.glob(kept))
    seen["refused"] = json.loads(refused[0].read_text())
    seen["decided_before_approval"] = (refused[0].parent / "decision.json").exists()
    status, body = api("PATCH", answer, {"chosen_options": ["Approve"],
                                         "params_input": {"comment": "tiny: figures read"}})  # fmt: skip
    assert status == 200, body
    seen["decision"] = refused[0].parent / "decision.json"
    return seen


def test_full_dag_builds_registers_and_reports(airflow):
    """The whole DAG with review_registration=always: a person approves through the real
    REST API (an ``airflow api-server`` on the same metadata DB) before registering."""
    env, store, home = airflow
    log = home / "full.log"
    conf = {"profile": "tiny", "review_registration": "always"}
    with log.open("w") as out:  # the API server starts while the DAG's first steps run
        proc = subprocess.Popen([AIRFLOW, "dags", "test", DAG, "--conf", json.dumps(conf)],
                                env=env, stdout=out, stderr=subprocess.STDOUT)  # fmt: skip
    try:
        with ApiServer(env, home).running() as api:
            seen = _answer_review(api, proc, store, log)
        code = proc.wait(timeout=600)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(timeout=60)
    run = last_run(env, "maga_tool_models")
    assert code == 0 and run["state"] == "success", _tail(log)
    assert set(run["tasks"].values()) == {"success"}
    body = seen["asked"]["body"]
    assert "Table 1 (judged share >= 3)" in body and "Quantization" in body, body
    assert "Reject needs a comment" in body
    assert [(e["by"], e["action"]) for e in seen["refused"]["answers"]] == [("admin", "Reject")]
    assert seen["decided_before_approval"] is False
    decision = json.loads(seen["decision"].read_text())
    assert decision["approved"] and decision["reviewer"] == "admin", decision
    assert decision["comment"] == "tiny: figures read"

    run_dir = next(
        p for p in store.glob("runs/maga_tool_models/*") if (p / "register" / "_SUCCESS").exists()
    )
    summary = json.loads((run_dir / "summary.json").read_text())
    assert list(summary["stages"]) == [
        "sample",
        "teacher_ga",
        "teacher_reformulate",
        "teacher_judge",
        "train_ga_slm",
        "train_reformulation_slm",
        "eval_slm",
        "quantize",
        "eval_quantized",
        "register",
    ]
    assert list(summary["gates"]) == [
        "sample",
        "ga_labels",
        "sft",
        "collapse",
        "parity",
        "quantized",
    ]
    assert all(g["passed"] for g in summary["gates"].values())
    parity = {c["name"]: c for c in summary["gates"]["parity"]["checks"]}
    assert parity["ga_slm_json_valid"]["advisory"] is True  # tiny: never a green pass
    # The task log (airflow dags test prints it): progress by time inside a long stage.
    text = log.read_text(errors="replace")
    stage = text[text.index("teacher_reformulate: starting") :]
    stage = stage[: stage.index("teacher_reformulate: done")]
    assert re.search(r"teacher: \d+/\d+ requests, [\d.]+ completion tok/s, ETA \d+s", stage), stage[
        -3000:
    ]
    for name, stage in summary["stages"].items():
        assert {
            "docs_in",
            "docs_out",
            "dropped",
            "prompt_tokens",
            "completion_tokens",
            "seconds",
        } <= set(stage), name
    assert summary["stages"]["teacher_ga"]["completion_tokens"] > 0

    table1 = summary["stages"]["eval_slm"]["table1"]
    assert sum(table1["slm"]["score_counts"].values()) == table1["judged_items"] > 0
    assert table1["gap_share_ge3"] == pytest.approx(
        table1["teacher"]["share_ge3"] - table1["slm"]["share_ge3"], abs=1e-3
    )

    latest = json.loads((store / "registry" / "tool_models" / "latest.json").read_text())
    manifest = json.loads(Path(latest["manifest"]).read_text())
    assert manifest["version"] == latest["version"] == 1
    for model in manifest["models"].values():
        qcfg = json.loads((Path(model["quantized_uri"]) / "config.json").read_text())
        assert "quantization_config" in qcfg
    assert manifest["eval"]["quantized"]["tokens_per_s_after"]["ga_slm"] > 0
    # tiny serves the faster student (quantize.serve: faster): the choice follows the
    # evaluations' tok/s on this machine and decides what the refresh loads
    q, served = manifest["eval"]["quantized"], manifest["quantization"]["served"]
    for role, key in (("ga_slm", "ga_slm"), ("reformulation_slm", "reform_slm")):
        before, after = q["tokens_per_s_before"][key], q["tokens_per_s_after"][key]
        slower = after < 0.9 * before
        assert served[role]["model"] == ("trained" if slower else "quantized"), served
        assert manifest["models"][role].get("serve_quantized", True) is not slower
    assert any(e.get("version") == 1 for e in run["asset_events"])
    report = (run_dir / "report.html").read_text()
    assert "demo-model" in report.lower() and "Limited Consistency" in report
    assert f'id="served-ga_slm">the {served["ga_slm"]["model"]} model' in report
