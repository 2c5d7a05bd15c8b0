"""The data-quality FastAPI app without an Airflow server: refuses requests without a
login, lists runs with gate status, builds stale reports once, serves Data Docs safely.
(tests/plugins/test_ui_e2e.py runs it inside a real Airflow.)"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import maga_dq_plugin as dq
import pytest
from fastapi.testclient import TestClient

from tests.report.conftest import copy_try1


@pytest.fixture
def root(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    copy_try1(tmp_path)
    monkeypatch.setenv("MAGA_STORAGE_ROOT", str(tmp_path))
    monkeypatch.setattr(dq, "_xcom_run_uri", lambda dag_id, run_id: None)
    return tmp_path


@pytest.fixture
def client(root: Path, monkeypatch: pytest.MonkeyPatch) -> TestClient:
    """A client logged in as a user who may read both DAGs; Airflow knows one run."""
    monkeypatch.setattr(
        dq, "_authorized_dags", lambda user: {"maga_tool_models", "maga_corpus_refresh"}
    )
    monkeypatch.setattr(
        dq,
        "_db_runs",
        lambda dag_ids: [
            {
                "dag_id": "maga_corpus_refresh",
                "run_id": "manual__2026-11-23T08:00:00+00:00",
                "state": "running",
                "started": "2026-11-23T08:00:00+00:00",
                "in_airflow": True,
            }
        ],
    )
    dq.app.dependency_overrides[dq.current_user] = lambda: "someone"
    yield TestClient(dq.app)
    dq.app.dependency_overrides.clear()


def test_requests_without_a_login_are_refused(root: Path) -> None:
    anonymous = TestClient(dq.app)
    for path in ("/", "/api/runs", "/runs/maga_tool_models/try1/report.html",
                 "/runs/maga_tool_models/try1/data_docs/index.html"):  # fmt: skip
        res = anonymous.get(path)
        assert res.status_code == 401, path
        assert res.json() == {"detail": "Not authenticated"}
    page = anonymous.get("/", headers={"Accept": "text/html"})
    assert page.status_code == 401 and "Login required" in page.text
    assert "/auth/login?next=" in page.text


def test_run_list_has_both_dags_with_gate_status(client: TestClient, root: Path) -> None:
    runs = client.get("/api/runs").json()
    by_id = {r["run_id"]: r for r in runs}
    cli = by_id["try1"]  # a run folder Airflow does not know
    assert (cli["dag_id"], cli["status"], cli["failed"], cli["in_airflow"]) == (
        "maga_tool_models",
        "failed",
        ["ga_labels"],
        False,
    )
    refresh = by_id["manual__2026-11-23T08:00:00+00:00"]
    assert refresh["status"] == "no run folder" and refresh["in_airflow"]
    page = client.get("/").text
    assert "Data quality" in page and "failed (ga_labels)" in page
    assert 'href="/maga-dq/runs/maga_tool_models/try1/report.html"' in page
    assert "/dags/maga_corpus_refresh/runs/manual__2026-11-23T08%3A00%3A00%2B00%3A00" in page


def test_report_is_built_when_missing_or_stale_and_served(
    client: TestClient, root: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from maga.report import build_report

    builds: list[str] = []

    def fake_build(run_uri: str) -> None:  # in-process and light, instead of a subprocess
        builds.append(run_uri)
        build_report(run_uri, data_docs=False, with_embeddings=False)

    monkeypatch.setattr(dq, "build", fake_build)
    url = "/runs/maga_tool_models/try1/report.html"
    first = client.get(url)
    assert first.status_code == 200 and "text/html" in first.headers["content-type"]
    assert "default-src 'none'" in first.headers["content-security-policy"]  # no scripts
    assert "Data quality: maga_tool_models" in first.text
    assert client.get(url).status_code == 200 and len(builds) == 1  # current: not rebuilt
    summary = root / "runs" / "maga_tool_models" / "try1" / "summary.json"
    data = json.loads(summary.read_text())
    data["updated_at"] = "2030-01-01T00:00:00+00:00"
    summary.write_text(json.dumps(data))
    assert client.get(url).status_code == 200 and len(builds) == 2  # stale: rebuilt
    assert client.get(url + "?rebuild=true").status_code == 200 and len(builds) == 3
    assert client.get("/runs/maga_tool_models/try1/", follow_redirects=False).headers[
        "location"] == "report.html"  # fmt: skip


def test_missing_run_unknown_dag_and_forbidden_dag(
    client: TestClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    res = client.get("/runs/maga_tool_models/nope/report.html")
    assert res.status_code == 404 and "No report yet" in res.text
    assert client.get("/runs/other_dag/try1/report.html").status_code == 404
    monkeypatch.setattr(dq, "_authorized_dags", lambda user: {"maga_corpus_refresh"})
    assert client.get("/runs/maga_tool_models/try1/report.html").status_code == 403
    assert {r["dag_id"] for r in client.get("/api/runs").json()} == {"maga_corpus_refresh"}


def test_data_docs_are_served_and_paths_cannot_escape(client: TestClient, root: Path) -> None:
    docs = root / "runs" / "maga_tool_models" / "try1" / "data_docs"
    (docs / "static").mkdir(parents=True)
    (docs / "index.html").write_text("<h1>docs</h1>")
    (docs / "static" / "a.css").write_text("body{}")
    base = "/runs/maga_tool_models/try1/data_docs"
    assert client.get(f"{base}/index.html").text == "<h1>docs</h1>"
    assert client.get(f"{base}/static/a.css").headers["content-type"].startswith("text/css")
    for bad in ("%2e%2e/config.json", "static/%2e%2e/%2e%2e/summary.json", "missing.html"):
        assert client.get(f"{base}/{bad}").status_code == 404, bad
    shutil.rmtree(docs)


def test_plugin_registers_the_app_and_two_ui_entries() -> None:
    plugin = dq.MagaDataQualityPlugin
    (entry,) = plugin.fastapi_apps
    assert entry["url_prefix"] == "/maga-dq" and entry["app"] is dq.app
    views = {v["name"]: v for v in plugin.external_views}
    assert views["Data quality"]["destination"] == "nav"
    assert views["Data quality"]["href"] == "maga-dq/"
    report, mix = views["Data quality report"], views["Mix evaluation"]
    assert report["destination"] == mix["destination"] == "dag_run"
    assert report["href"].endswith("/maga-dq/runs/{DAG_ID}/{RUN_ID}/report.html")
    assert mix["href"].endswith("/maga-dq/runs/{DAG_ID}/{RUN_ID}/mix_eval.html")


def test_mix_evaluation_tab(client: TestClient, root: Path, monkeypatch) -> None:
    """A maga_mix_eval run's tab is its own report; a refresh run's lists the
    evaluations of the mixes it made (from the registry of evaluations)."""
    monkeypatch.setattr(dq, "_authorized_dags", lambda user: set(dq.DAG_IDS))
    run = root / "runs" / "maga_mix_eval" / "ev1"
    run.mkdir(parents=True)
    (run / "summary.json").write_text(json.dumps({"stages": {}, "gates": {}}))
    (run / "mix_eval.html").write_text("<html>mix table</html>")
    res = client.get("/runs/maga_mix_eval/ev1/mix_eval.html")
    assert res.status_code == 200 and "mix table" in res.text
    assert "default-src 'none'" in res.headers["content-security-policy"]
    moved = client.get("/runs/maga_mix_eval/ev1/report.html", follow_redirects=False)
    assert moved.status_code in (302, 307) and moved.headers["location"] == "mix_eval.html"
    result = {"run_id": "ev1", "created_at": "2026-12-04T17:00:00+00:00", "fingerprint": "f1",
              "data": {"refresh": {"run_ids": ["refresh-7"]}}}  # fmt: skip
    reg = root / "evaluations" / "mix_eval" / "f1"
    reg.mkdir(parents=True)
    (reg / "result.json").write_text(json.dumps(result))
    page = client.get("/runs/maga_corpus_refresh/refresh-7/mix_eval.html").text
    assert 'href="/maga-dq/runs/maga_mix_eval/ev1/mix_eval.html"' in page
    other = client.get("/runs/maga_corpus_refresh/refresh-8/mix_eval.html").text
    assert "No mix evaluation" in other


@pytest.mark.timeout(60)
def test_a_run_that_failed_before_any_stage_says_which_task_and_why(
    client: TestClient, root: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from maga.runs.failures import record_failure
    from maga.storage import Storage

    run_uri = str(root / "runs" / "maga_tool_models" / "bad_profile")
    record_failure(Storage(), run_uri, task_id="prepare_run", final=True, try_number=1,
                   error="ConfigError", reason="ConfigError: override 'x=1': unknown key")  # fmt: skip
    monkeypatch.setattr(dq, "_task_states", lambda dag_id, run_id: [
        {"task_id": "prepare_run", "map_index": -1, "state": "failed", "try_number": 1},
        {"task_id": "gate_sample", "map_index": -1, "state": "upstream_failed", "try_number": 0},
    ])  # fmt: skip
    res = client.get("/runs/maga_tool_models/bad_profile/report.html")
    assert res.status_code == 404
    assert "<h1>Run failed</h1>" in res.text
    assert "ConfigError: override &#x27;x=1&#x27;: unknown key" in res.text
    assert "<td>gate_sample</td><td>upstream_failed</td>" in res.text
