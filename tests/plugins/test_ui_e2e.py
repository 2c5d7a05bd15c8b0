"""End to end, as a person would: `scripts/airflow-standalone.sh` (SQLite, temp
AIRFLOW_HOME) runs the real maga_tool_models DAG with the tiny profile, and a headless
chromium logs in to the Airflow UI and reads that run's data-quality report. Then it
uses the UI as a newcomer does: each DAG's Trigger form submitted with its defaults, once
with one changed field (a corpus that does not exist: the run fails at once, without a
retry, and its report tab says why), and maga_corpus_refresh unpaused with its toggle
(no run that nobody asked for fails). Elements are found by Airflow's own stable
attributes: ``data-testid``, ``aria-label``, ARIA roles and the form's ``element_<param>``
field names.

The run is kept short without faking anything: it is triggered while the DAG is paused,
every task from ``teacher_genre_audience`` on is marked skipped through the REST API (as
an operator would from the UI), then the DAG is unpaused. The scheduler really runs
``prepare_run``, ``sample_labeling_data`` and ``gate_sample``; the run ends "success" with
a sample stage, one gate and a report. The run's storage root is overridden through the
DAG's ``overrides`` param, so finding the run folder proves the plugin reads the
``prepare_run`` XCom rather than guessing a path.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest

from tests.conftest import require
from tests.plugins import airflow_ui as ui
from tests.plugins.airflow_ui import SUBMIT
from tests.plugins.browser import chromium, chromium_path, png_size

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[2]
DAG_ID = "maga_tool_models"
REFRESH = "maga_corpus_refresh"
RUN_ID = "e2e_dq_report"
ARTIFACTS = ROOT / "var" / "test-artifacts" / "ui-e2e"
SKIP_FROM = "teacher_genre_audience"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Airflow:
    base: str
    password: str
    home: Path
    store: Path
    xcom_store: Path
    log: Path
    session: int = 0  # the standalone's process group: every Airflow process of this instance

    def request(self, method: str, path: str, body: Any = None, token: str | None = None,
                headers: dict[str, str] | None = None) -> tuple[int, Any]:  # fmt: skip
        data = json.dumps(body).encode() if body is not None else None
        req = urllib.request.Request(self.base + path, data=data, method=method)
        req.add_header("Content-Type", "application/json")
        if token:
            req.add_header("Authorization", f"Bearer {token}")
        for k, v in (headers or {}).items():
            req.add_header(k, v)
        try:
            with urllib.request.urlopen(req, timeout=600) as res:
                raw, status, kind = res.read(), res.status, res.headers.get("content-type", "")
        except urllib.error.HTTPError as err:
            raw, status, kind = err.read(), err.code, err.headers.get("content-type", "")
        text = raw.decode("utf-8", "replace")
        return status, json.loads(text) if "json" in kind and text else text

    def token(self, user: str = "admin") -> str:
        password = self.password if user == "admin" else json.loads(
            (self.home / "simple_auth_manager_passwords.json").read_text())[user]  # fmt: skip
        status, body = self.request("POST", "/auth/token",
                                    {"username": user, "password": password})  # fmt: skip
        assert status == 201, body
        return body["access_token"]


def _log_tail(path: Path, n: int = 60) -> str:
    return "\n".join(path.read_text(errors="replace").splitlines()[-n:]) if path.exists() else ""


@pytest.fixture(scope="module")
def airflow(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Airflow]:
    require("chromium", chromium_path() is not None,
            "chromium not installed: run scripts/ci-system-deps.sh")  # fmt: skip
    tmp = tmp_path_factory.mktemp("airflow_e2e")
    port = free_port()
    env = {**os.environ,
           "MAGA_AIRFLOW_HOME": str(tmp / "home"), "MAGA_AIRFLOW_PORT": str(port),
           "MAGA_STORAGE_ROOT": str(tmp / "store"),
           "AIRFLOW__API__BASE_URL": f"http://127.0.0.1:{port}",
           # two standalone instances (other test sessions) must not share these ports
           "AIRFLOW__LOGGING__WORKER_LOG_SERVER_PORT": str(free_port()),
           "AIRFLOW__LOGGING__TRIGGER_LOG_SERVER_PORT": str(free_port()),
           # a read-only user: may see a review, may not answer it
           "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS": "admin:admin,viewer:viewer",
           # the scheduler's sweep of timed-out reviews (and triggers) every 2 s, not 15 s:
           # the timeout test then waits its 10 s review timeout, not up to 45 s
           "AIRFLOW__SCHEDULER__TRIGGER_TIMEOUT_CHECK_INTERVAL": "2"}  # fmt: skip
    env.pop("AIRFLOW_HOME", None)
    log = tmp / "standalone.log"
    with log.open("w") as out:
        proc = subprocess.Popen([str(ROOT / "scripts" / "airflow-standalone.sh")], cwd=ROOT,
                                env=env, stdout=out, stderr=subprocess.STDOUT,
                                start_new_session=True)  # fmt: skip
    af = Airflow(f"http://127.0.0.1:{port}", "", tmp / "home", tmp / "store",
                 tmp / "xcom_store", log, proc.pid)  # fmt: skip
    try:
        deadline = time.monotonic() + 300
        while True:
            if proc.poll() is not None:
                pytest.fail(f"airflow standalone exited:\n{_log_tail(log)}")
            try:
                if af.request("GET", "/api/v2/monitor/health")[0] == 200:
                    break
            except OSError:
                pass
            if time.monotonic() > deadline:
                pytest.fail(f"airflow standalone not healthy in 300s:\n{_log_tail(log)}")
            time.sleep(2)
        passwords = json.loads((af.home / "simple_auth_manager_passwords.json").read_text())
        af.password = passwords["admin"]
        assert f"admin / {af.password}" in log.read_text()  # printed once by the script
        yield af
    finally:
        # the group may be gone already (standalone exited): keep the real failure visible
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=30)


@pytest.fixture(scope="module")
def dag_run(airflow: Airflow) -> str:
    """A finished run of maga_tool_models (tiny profile) up to and including gate_sample."""
    token = airflow.token()
    deadline = time.monotonic() + 240
    while airflow.request("GET", f"/api/v2/dags/{DAG_ID}", token=token)[0] != 200:
        if time.monotonic() > deadline:
            pytest.fail(f"DAG {DAG_ID} never parsed:\n{_log_tail(airflow.log)}")
        time.sleep(3)
    conf = {"profile": "tiny", "overrides": [f"storage.root={airflow.xcom_store}"]}
    status, body = airflow.request("POST", f"/api/v2/dags/{DAG_ID}/dagRuns",
                                   {"dag_run_id": RUN_ID, "logical_date": None, "conf": conf},
                                   token)  # fmt: skip
    assert status == 200, body
    status, body = airflow.request(
        "PATCH",
        f"/api/v2/dags/{DAG_ID}/dagRuns/{RUN_ID}/taskInstances/{SKIP_FROM}",
        {"new_state": "skipped", "include_downstream": True},
        token,
    )
    assert status == 200, body
    status, body = airflow.request("PATCH", f"/api/v2/dags/{DAG_ID}", {"is_paused": False}, token)
    assert status == 200, body
    deadline = time.monotonic() + 420
    while True:
        state = airflow.request("GET", f"/api/v2/dags/{DAG_ID}/dagRuns/{RUN_ID}",
                                token=token)[1]["state"]  # fmt: skip
        if state in ("success", "failed"):
            break
        if time.monotonic() > deadline:
            pytest.fail(f"run still {state} after 420s:\n{_log_tail(airflow.log)}")
        time.sleep(3)
    tis = airflow.request("GET", f"/api/v2/dags/{DAG_ID}/dagRuns/{RUN_ID}/taskInstances",
                          token=token)[1]["task_instances"]  # fmt: skip
    states = {t["task_id"]: t["state"] for t in tis}
    assert state == "success", states
    assert states["gate_sample"] == "success" and states[SKIP_FROM] == "skipped"
    return RUN_ID


def test_requests_without_a_login_are_refused(airflow: Airflow, dag_run: str) -> None:
    # The DAG's teardown task built the report; a refused request must not touch it.
    before = {p: p.stat().st_mtime_ns for p in airflow.xcom_store.rglob("report.html")}
    paths = ["/maga-dq/", "/maga-dq/api/runs",
             f"/maga-dq/runs/{DAG_ID}/{dag_run}/report.html",
             f"/maga-dq/runs/{DAG_ID}/{dag_run}/data_docs/index.html"]  # fmt: skip
    for path in paths:
        status, body = airflow.request("GET", path)
        assert status == 401, (path, body)
        status, _ = airflow.request("GET", path, token="not-a-valid-jwt")
        assert status in (401, 403), path
    status, page = airflow.request("GET", "/maga-dq/", headers={"Accept": "text/html"})
    assert status == 401 and "Login required" in page
    after = {p: p.stat().st_mtime_ns for p in airflow.xcom_store.rglob("report.html")}
    assert after == before  # nothing was built or rebuilt for them


def test_logged_in_user_sees_the_run_list_with_gate_status(airflow: Airflow, dag_run: str) -> None:
    status, runs = airflow.request("GET", "/maga-dq/api/runs", token=airflow.token())
    assert status == 200
    run = next(r for r in runs if r["run_id"] == dag_run)
    assert run["dag_id"] == DAG_ID and run["state"] == "success" and run["status"] == "passed"
    assert run["run_uri"].startswith(str(airflow.xcom_store))  # found through the XCom
    assert not airflow.store.exists() or not list(airflow.store.rglob("summary.json"))


def _task_log(airflow: Airflow, dag_id: str, run_id: str, task_id: str,
              map_index: int = -1) -> list[dict[str, Any]]:  # fmt: skip
    """A task's whole log, read as a person's tools read it: the REST API's log endpoint."""
    path = (f"/api/v2/dags/{dag_id}/dagRuns/{quote(run_id)}/taskInstances/{task_id}/logs/1"
            f"?full_content=true&map_index={map_index}")  # fmt: skip
    status, body = airflow.request("GET", path, token=airflow.token(),
                                   headers={"Accept": "application/json"})  # fmt: skip
    assert status == 200, body
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    (ARTIFACTS / f"log-{task_id}.json").write_text(json.dumps(body, indent=1, default=str))
    return [e for e in body["content"] if isinstance(e, dict)]


def test_a_real_task_log_leads_with_stage_lines_and_no_library_chatter(
    airflow: Airflow, dag_run: str
) -> None:
    """``gate_sample`` builds a great-expectations context (which logs ~200 INFO lines of
    its own unless maga.log quiets it); ``sample_labeling_data`` is a plain stage."""
    for task in ("sample_labeling_data", "gate_sample"):
        events = _task_log(airflow, DAG_ID, dag_run, task)
        assert events, task
        loggers = [str(e.get("logger") or "") for e in events]
        ours = [i for i, name in enumerate(loggers) if name.startswith("maga")]
        assert ours, (task, loggers)
        chatter = [e for e in events
                   if str(e.get("logger") or "").startswith(("great_expectations", "vllm"))
                   or "Skipping registering" in e["event"]]  # fmt: skip
        assert not chatter, chatter[:3]
        bars = [e for e in events if str(e.get("level")).lower() == "error"
                and re.search(r"\d+%\||it/s\]", e["event"])]  # fmt: skip
        assert not bars, bars[:3]
        # the stage's own lines come before any line of a library the stage uses
        libraries = [i for i, name in enumerate(loggers)
                     if name and not name.startswith(("maga", "airflow", "task", "supervisor"))]  # fmt: skip
        assert not libraries or ours[0] < libraries[0], [loggers[i] for i in libraries[:5]]
    first = next(e for e in events if str(e.get("logger") or "").startswith("maga"))
    assert "gate" in first["event"] or "sample" in first["event"], first


def test_task_processes_fork_from_workers_with_the_heavy_libraries_loaded(
    airflow: Airflow, dag_run: str
) -> None:
    """The script's executor (maga.deploy.executor) imported torch, transformers and
    great-expectations in the scheduler before forking its workers; every task process
    is a fork of one of these workers (issue 22: a task no longer pays them itself)."""
    workers = []
    for proc in Path("/proc").iterdir():
        try:
            ours = os.getsid(int(proc.name)) == airflow.session
            cmd = (proc / "cmdline").read_bytes()
        except (OSError, ValueError):
            continue  # gone, or not a process
        if ours and b"LocalExecutor" in cmd:  # the title Airflow gives its workers
            workers.append(proc)
    assert workers, "no LocalExecutor worker of this standalone found"
    for proc in workers:
        assert "libtorch_cpu" in (proc / "maps").read_text(), proc
    assert "already imported" in airflow.log.read_text()


def test_person_logs_in_and_reads_the_report_of_the_run(airflow: Airflow, dag_run: str) -> None:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    base = airflow.base
    with chromium() as page:
        page.goto(f"{base}/maga-dq/")  # before logging in: refused
        assert "Login required" in page.eval("document.body.innerText")

        login(page, airflow)

        page.goto(f"{base}/dags/{DAG_ID}/runs/{quote(dag_run, safe='')}")
        tab = "Array.from(document.querySelectorAll('a')).find(e => e.innerText.trim() === " \
              "'Data quality report')"  # fmt: skip
        page.wait_for(f"!!{tab}", 90, "the run's 'Data quality report' tab")
        page.click(tab)
        page.wait_for("!!document.querySelector('iframe[src*=\"/maga-dq/runs/\"]')", 30, "iframe")
        # the first visit builds the report (embeddings, Data Docs): allow for a slow CI box
        deadline = time.monotonic() + 420
        while True:
            try:
                frame = page.frame_context("/maga-dq/runs/")
                title = page.eval("document.title", frame)
                if title.startswith("Data quality:"):
                    break
                if "failed" in title.lower():
                    pytest.fail(page.eval("document.body.innerText", frame))
            except Exception:
                pass
            if time.monotonic() > deadline:
                pytest.fail(f"report never loaded in the tab:\n{_log_tail(airflow.log)}")
            time.sleep(2)
        text = page.eval("document.body.innerText", frame)
        assert f"Data quality: {DAG_ID} run {dag_run}" in text
        assert "1 of 1 gate passed" in text and "Demo-model output" in text
        for heading in ("Gates", "Funnel", "Limited Consistency", "Expansion",
                        "Diversity and faithfulness", "Collapse early warning", "Cost",
                        "Side-by-side samples"):  # fmt: skip
            assert f"\n{heading}\n" in f"\n{text}\n", heading
        assert "Gate sample passed" in text
        assert "Not available for this run" in text  # the skipped stages
        charts = page.eval("document.querySelectorAll('svg.chart').length", frame)
        assert charts >= 3
        shot = page.screenshot(ARTIFACTS / "run-tab-report.png")
        assert png_size(shot) == (1400, 1000) and shot.stat().st_size > 40_000

        report_url = page.eval("document.querySelector('iframe').src")
        page.goto(report_url)  # the report on its own, whole page
        page.screenshot(ARTIFACTS / "report-full.png", full_page=True)
        page.click("document.querySelector('#data-docs-link')")
        page.wait_for("document.title.startsWith('Data Docs')", 60, "Data Docs")
        assert "gate_sample" not in page.eval("document.body.innerText")
        assert "sample_metrics" in page.eval("document.body.innerText")

        page.goto(f"{base}/plugin/data-quality")  # the navigation entry
        page.wait_for("!!document.querySelector('iframe')", 60, "Data quality view")
        deadline = time.monotonic() + 60
        while True:
            try:
                listing = page.eval("document.body.innerText", page.frame_context("/maga-dq/"))
                if dag_run in listing:
                    break
            except Exception:
                pass
            if time.monotonic() > deadline:
                pytest.fail("run list never showed the run")
            time.sleep(1)
        assert "passed" in listing and DAG_ID in listing
        page.screenshot(ARTIFACTS / "data-quality-view.png")


# --- the UI as a newcomer uses it ---------------------------------------------------


def login(page: Any, airflow: Airflow) -> None:
    ui.login(page, airflow.base, airflow.password)


def open_trigger_form(page: Any, airflow: Airflow, dag_id: str) -> None:
    ui.open_trigger_form(page, airflow.base, dag_id)


def form_problems(page: Any) -> list[str]:
    """Why the form could not be submitted: a disabled button, fields marked invalid."""
    return page.eval(f"""(() => {{
        const out = [];
        if ({SUBMIT}.disabled) out.push('Trigger button disabled');
        {SUBMIT}.closest('[role=dialog]').querySelectorAll('[aria-invalid=true]').forEach(
            e => out.push('invalid: ' + (e.getAttribute('name') || e.id)));
        return out; }})()""")  # fmt: skip


def submit(page: Any, dag_id: str) -> str:
    """Press Trigger; the UI moves to the new run's page. Returns its run id."""
    try:
        return ui.submit(page, dag_id)
    except Exception as exc:  # say what the user saw: an error toast, a form still open
        page.screenshot(ARTIFACTS / f"submit-{dag_id}.png")
        seen = page.eval("document.body.innerText")
        raise AssertionError(f"{exc}\nthe page read:\n{seen[-3000:]}") from None


def run_info(airflow: Airflow, dag_id: str, run_id: str) -> dict[str, Any]:
    status, body = airflow.request("GET", f"/api/v2/dags/{dag_id}/dagRuns/{quote(run_id)}",
                                   token=airflow.token())  # fmt: skip
    assert status == 200, body
    return body


def task_instances(airflow: Airflow, dag_id: str, run_id: str) -> dict[str, dict[str, Any]]:
    body = airflow.request("GET", f"/api/v2/dags/{dag_id}/dagRuns/{quote(run_id)}/"
                           "taskInstances", token=airflow.token())[1]  # fmt: skip
    return {t["task_id"]: t for t in body["task_instances"]}


def wait_final(airflow: Airflow, dag_id: str, run_id: str, timeout: float) -> str:
    deadline = time.monotonic() + timeout
    while (state := run_info(airflow, dag_id, run_id)["state"]) not in ("success", "failed"):
        if time.monotonic() > deadline:
            pytest.fail(f"{dag_id} {run_id} still {state} after {timeout}s:\n"
                        f"{_log_tail(airflow.log)}")  # fmt: skip
        time.sleep(3)
    return state


def stop(airflow: Airflow, dag_id: str, run_id: str) -> None:
    """Clean up a run the test only needed to see start (as 'mark as failed' would).
    Airflow 3.3 ignores that for a run still queued, so wait until it runs."""
    deadline = time.monotonic() + 180
    while run_info(airflow, dag_id, run_id)["state"] == "queued":
        assert time.monotonic() < deadline, f"{run_id} never left the queue"
        time.sleep(2)
    status, body = airflow.request("PATCH", f"/api/v2/dags/{dag_id}/dagRuns/{quote(run_id)}",
                                   {"state": "failed"}, airflow.token())  # fmt: skip
    assert status == 200, body
    wait_final(airflow, dag_id, run_id, 180)  # failed, or success once its teardown ran


def defaults(airflow: Airflow, dag_id: str) -> dict[str, Any]:
    status, body = airflow.request("GET", f"/api/v2/dags/{dag_id}/details", token=airflow.token())
    assert status == 200, body
    return {name: spec["value"] for name, spec in body["params"].items()}


def read_report_tab(page: Any, airflow: Airflow) -> str:
    """Open the run page's 'Data quality report' tab; the report's text once it loaded."""
    try:
        return ui.read_tab(page, "Data quality report", "/maga-dq/runs/",
                           ("Data quality:", "Run failed"), 420)  # fmt: skip
    except ui.TabNotLoaded:
        pytest.fail(f"report never loaded in the tab:\n{_log_tail(airflow.log)}")


@pytest.mark.timeout(900)  # the module's Airflow is up already
def test_unpausing_the_refresh_dag_starts_no_run_that_fails(airflow: Airflow,
                                                            dag_run: str) -> None:  # fmt: skip
    token = airflow.token()
    with chromium() as page:
        login(page, airflow)
        page.goto(f"{airflow.base}/dags/{REFRESH}")
        toggle = "document.querySelector('[data-testid=toggle-pause]')"
        page.wait_for(f"!!{toggle}", 90, "the pause toggle")
        status, dag = airflow.request("GET", f"/api/v2/dags/{REFRESH}", token=token)
        if not dag["is_paused"]:  # the form's "unpause on trigger" did it before: pause first
            page.click(toggle)
            page.wait_for(f"{toggle}.querySelector('input').checked === false", 30, "paused")
        page.click(toggle)
        page.wait_for(f"{toggle}.querySelector('input').checked === true", 30, "unpaused")
    assert airflow.request("GET", f"/api/v2/dags/{REFRESH}", token=token)[1]["is_paused"] is False
    deadline = time.monotonic() + 240
    while True:  # Airflow starts the run of the last cron point now (catchup=False)
        runs = airflow.request("GET", f"/api/v2/dags/{REFRESH}/dagRuns", token=token)[1]
        unasked = [r for r in runs["dag_runs"] if r["run_type"] != "manual"]
        assert not [r for r in unasked if r["state"] == "failed"], unasked
        if unasked and all(r["state"] == "success" for r in unasked):
            break
        if time.monotonic() > deadline:
            pytest.fail(f"scheduled runs {unasked} not finished:\n{_log_tail(airflow.log)}")
        time.sleep(3)
    for run in unasked:
        tis = task_instances(airflow, REFRESH, run["dag_run_id"])
        assert tis["discover"]["state"] == "skipped", tis["discover"]
        assert {tis[t]["state"] for t in ("publish", "export_mix", "finish")} == {"skipped"}


@pytest.mark.timeout(900)  # the module's Airflow is up already
def test_each_trigger_form_submits_with_its_defaults(airflow: Airflow, dag_run: str) -> None:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    with chromium() as page:
        login(page, airflow)
        for dag_id in (DAG_ID, REFRESH):
            open_trigger_form(page, airflow, dag_id)
            assert form_problems(page) == [], dag_id
            text = page.eval(f"{SUBMIT}.closest('[role=dialog]').innerText")
            assert "Empty: the profile's" in text
            if dag_id == DAG_ID:
                page.screenshot(ARTIFACTS / "trigger-form.png")
            run_id = submit(page, dag_id)
            run = run_info(airflow, dag_id, run_id)
            assert run["run_type"] == "manual" and run["state"] in ("queued", "running", "failed")
            assert run["conf"] == defaults(airflow, dag_id)  # nothing but the defaults
            assert run["conf"]["profile"] == "demo"
            if dag_id == DAG_ID:
                stop(airflow, dag_id, run_id)  # a whole demo run is not this test's business
            else:  # no tool models registered in this Airflow yet: refused at once, no retry
                assert wait_final(airflow, dag_id, run_id, 300) == "failed"
                tis = task_instances(airflow, dag_id, run_id)
                assert (tis["discover"]["state"], tis["discover"]["try_number"]) == ("failed", 1)
                assert tis["publish"]["state"] == "skipped"  # not a second failure


@pytest.mark.timeout(900)  # the module's Airflow is up already
def test_a_missing_corpus_fails_at_once_and_the_report_tab_says_why(
    airflow: Airflow, dag_run: str
) -> None:
    with chromium() as page:
        login(page, airflow)
        open_trigger_form(page, airflow, DAG_ID)
        page.type_into("input[name=element_corpus_uri]", "/nonexistent/corpus")  # one field
        assert form_problems(page) == []
        run_id = submit(page, DAG_ID)
        conf = run_info(airflow, DAG_ID, run_id)["conf"]
        assert conf == {**defaults(airflow, DAG_ID), "corpus_uri": "/nonexistent/corpus"}
        began = time.monotonic()
        assert wait_final(airflow, DAG_ID, run_id, 420) == "failed"
        tis = task_instances(airflow, DAG_ID, run_id)
        failed = tis["sample_labeling_data"]
        assert (failed["state"], failed["try_number"]) == ("failed", 1)  # not retried
        assert tis["gate_sample"]["state"] == "upstream_failed"
        assert tis["build_data_quality_report"]["state"] == "success"

        page.goto(f"{airflow.base}/dags/{DAG_ID}/runs/{quote(run_id, safe='')}")
        text = read_report_tab(page, airflow)
        assert "Failed tasks" in text and "sample_labeling_data" in text
        assert "CorpusError: corpus folder not found: /nonexistent/corpus" in text
        assert "task sample_labeling_data failed" in text  # the verdict at the top
        page.screenshot(ARTIFACTS / "failed-run-report.png")
        print(f"missing corpus: run failed {time.monotonic() - began:.0f}s after triggering")


@pytest.mark.timeout(900)
def test_a_dry_run_from_the_form_shows_its_plan_in_the_report_tab(
    airflow: Airflow, tmp_path_factory: pytest.TempPathFactory
) -> None:
    """The refresh's Trigger form with its dry-run switch on: the run's report tab shows
    the plan with the real shard and document counts and the cost plan's figures."""
    from tests.plugins import review_ui as rv

    root = rv.make_root(tmp_path_factory.mktemp("dry") / "store")
    with chromium() as page:
        login(page, airflow)
        open_trigger_form(page, airflow, REFRESH)
        rv.choose(page, "profile", "tiny")
        page.type_into("input[name=element_source]", str(root / "source"))
        page.type_into("textarea[name=element_overrides]", "\n".join(rv.overrides(root)))
        switch = "document.querySelector('[name=element_dry_run]')"
        page.click(f"{switch}.closest('label')")
        page.wait_for(f"{switch}.checked", 15, "the dry-run switch on")
        assert form_problems(page) == []
        run_id = submit(page, REFRESH)
        assert run_info(airflow, REFRESH, run_id)["conf"]["dry_run"] is True
        assert wait_final(airflow, REFRESH, run_id, 600) == "success"
        page.goto(f"{airflow.base}/dags/{REFRESH}/runs/{quote(run_id, safe='')}")
        text = read_report_tab(page, airflow)
        page.screenshot(ARTIFACTS / "dry-run-report.png")
    reports = [p for p in root.rglob("report.json") if "maga_corpus_refresh" in str(p)]
    assert len(reports) == 1, reports
    plan = json.loads(reports[0].read_text())["cost_plan"]["plan"]
    assert "Dry run: what this run would do" in text
    assert "A dry run writes nothing to the output" in text
    assert "shards new / changed / unchanged\t2 / 0 / 0" in text, text[:3000]
    assert "documents in those shards\t4" in text
    total = plan["total"]
    assert total["docs"] == 4 and total["completion_tokens"] > 0
    assert f"{total['completion_tokens']:,}" in text or str(total["completion_tokens"]) in text
    assert not (root / "corpus" / "maga" / "data").exists()  # nothing written


# --- a person reviews a refresh before it publishes ------------------------------------


@pytest.fixture(scope="module")
def reviewed(airflow: Airflow, tmp_path_factory: pytest.TempPathFactory) -> dict:
    """A tiny refresh of two shards triggered from the form with review=always; the
    reviewer publishes one of them in the review screen. What the test saw."""
    from tests.plugins import review_ui as rv

    root = rv.make_root(tmp_path_factory.mktemp("review") / "store")
    with chromium() as page:
        login(page, airflow)
        seen = rv.review_in_the_ui(page, airflow, root, ARTIFACTS, open_trigger_form,
                                   form_problems, submit, read_report_tab)  # fmt: skip
    seen["root"] = root
    return seen


@pytest.mark.timeout(1500)
def test_an_engine_tasks_log_has_its_stage_lines_and_no_vllm_chatter(airflow: Airflow,
                                                                     reviewed: dict) -> None:  # fmt: skip
    """``reformulate_shard`` runs real vLLM engines in child processes: their INFO lines
    and progress bars stay out of the task log; the step's own lines are there."""
    from tests.plugins import review_ui as rv

    assert wait_final(airflow, rv.REFRESH, reviewed["run_id"], 600) == "success"
    events = _task_log(airflow, rv.REFRESH, reviewed["run_id"], "shard.reformulate_shard", 0)
    texts = [e["event"] for e in events]
    assert any(str(e.get("logger") or "").startswith("maga") for e in events), texts[:20]
    assert any("reformulate" in t for t in texts), texts[:20]
    vllm = [t for t in texts if re.search(r"\b(INFO|WARNING)\b \d\d-\d\d .*\[\w+\.py:\d+\]", t)
            or str(next((e.get("logger") for e in events if e["event"] == t), "")).startswith("vllm")]  # fmt: skip
    assert not vllm, vllm[:3]
    bars = [e["event"] for e in events if str(e.get("level")).lower() == "error"
            and re.search(r"\d+%\||it/s\]", e["event"])]  # fmt: skip
    assert not bars, bars[:3]


@pytest.mark.timeout(1500)
def test_model_tasks_of_two_shards_take_turns_on_the_cores(airflow: Airflow, reviewed: dict):
    """Both shards' engine tasks (``reformulate_shard``: two SLM engines; ``validate_shard``:
    the judge) hold every core of the ``cpu_models`` pool, so no two ran at the same time:
    side by side on 2 cores, each binding both, they made a demo refresh 3x slower than the
    CLI (issue 22)."""
    import datetime as dt
    import os

    from tests.plugins import review_ui as rv

    assert wait_final(airflow, rv.REFRESH, reviewed["run_id"], 600) == "success"
    status, body = airflow.request(
        "GET", f"/api/v2/dags/{rv.REFRESH}/dagRuns/{quote(reviewed['run_id'])}/taskInstances",
        token=airflow.token())  # fmt: skip
    assert status == 200, body
    model = [t for t in body["task_instances"]
             if t["task_id"] in ("shard.reformulate_shard", "shard.validate_shard")]  # fmt: skip
    assert len(model) == 4, [(t["task_id"], t["map_index"]) for t in model]
    assert {(t["pool"], t["pool_slots"]) for t in model} == {("cpu_models", os.cpu_count())}
    spans = sorted((dt.datetime.fromisoformat(t["start_date"]),
                    dt.datetime.fromisoformat(t["end_date"]), t["task_id"], t["map_index"])
                   for t in model)  # fmt: skip
    for before, after in zip(spans, spans[1:], strict=False):
        assert before[1] <= after[0], f"{before[2:]} and {after[2:]} ran at the same time"


@pytest.mark.timeout(1500)
def test_review_waits_then_publishes_only_the_approved_shard(airflow: Airflow, reviewed: dict):
    from tests.plugins import review_ui as rv

    assert reviewed["published_while_waiting"] == [] and reviewed["publish_state"] is None
    text = reviewed["body"]
    for part in ("Shards: 2", "Rows:", "Expansion:", "Judged share >= 3:", "Hygiene:",
                 "language_mismatch", "Warnings:", "used for the first time",
                 "Reject run needs a comment."):  # fmt: skip
        assert part in text, part
    # "Reject run" without a comment first: kept, not taken; the review opened again with
    # nothing published, rejected or decided, and its response cleared for the next answer
    refused = reviewed["refused"]["answers"]
    assert [(e["by"], e["action"]) for e in refused] == [("admin", "Reject run")], refused
    assert "needs a comment" in refused[0]["why"]
    assert reviewed["after_refusal"] == {"published": [], "manifest": False, "decision": []}
    detail = reviewed["detail_after_refusal"]
    assert detail["response_received"] is False and not detail["chosen_options"], detail
    assert "/plugin/data-quality-report" in reviewed["link"]
    assert "Side-by-side samples" in reviewed["report"]  # the link's tab, loaded
    assert wait_final(airflow, rv.REFRESH, reviewed["run_id"], 600) == "success"
    shards = rv.manifest(reviewed["root"])
    a, b = shards["a.jsonl"], shards["b.jsonl"]
    assert a["status"] == "published" and a["review"]["reviewer"] == "admin"
    assert a["review"]["action"] == "Publish selected shards"
    assert (b["status"], b["step"], b["stopped_by"]) == ("rejected", "review", "review")
    assert b["review"]["comment"] == "b: not for this mix" and "rejected by admin" in b["reason"]
    out = subprocess.run([str(ROOT / ".venv" / "bin" / "maga"), "audit",
                          str(reviewed["root"] / "corpus" / "maga"), "--source",
                          str(reviewed["root"] / "source"), "--config", "tiny", "--json"],
                         capture_output=True, text=True, timeout=300, cwd=ROOT)  # fmt: skip
    assert out.returncode == 0, out.stderr[-2000:]
    result = json.loads(out.stdout)
    assert result["unaccounted"] == 0 and result["records"] == 4
    assert result["rejected_by_reason"].get("review_rejected") == 2
    card = (reviewed["root"] / "corpus" / "maga" / "README.md").read_text()
    assert f"| {a['key']} | approved | admin |" in card
    assert f"| {b['key']} | rejected | admin |" in card and "b: not for this mix" in card
    print(
        f"review: answer to published shard {reviewed['answer_to_published_s']:.1f} s; "
        f"request to answer {reviewed['request_to_answer_s']:.1f} s; comment-less rejection "
        f"to the review open again {reviewed['reopen_s']:.1f} s"
    )


TIMEOUT_S = 10  # the timeout test's review timeout


@pytest.mark.timeout(900)
def test_unanswered_review_times_out_rejects_and_a_viewer_cannot_answer(
    airflow: Airflow, reviewed: dict
) -> None:
    """The shard the reviewer rejected is retried (retry_rejected: its staged work is
    reused) with a 10 s review timeout. A viewer's answer is refused with 403 through the
    real API; nobody else answers; the timeout rejects it and nothing is published."""
    from tests.plugins import review_ui as rv

    root = reviewed["root"]
    before = rv.manifest(root)
    conf = {"profile": "tiny", "review": "always", "source": str(root / "source"),
            "retry_rejected": True,
            "overrides": rv.overrides(root, f"refresh.review.timeout={TIMEOUT_S}")}  # fmt: skip
    run_id = "review_timeout"
    status, body = airflow.request("POST", f"/api/v2/dags/{rv.REFRESH}/dagRuns",
                                   {"dag_run_id": run_id, "logical_date": None, "conf": conf},
                                   airflow.token())  # fmt: skip
    assert status == 200, body
    rv.wait_task(airflow, run_id, "review", ("awaiting_input",), 600)
    parked = time.monotonic()
    viewer = airflow.token("viewer")
    status, detail = airflow.request("GET", f"/api/v2/dags/{rv.REFRESH}/dagRuns/{run_id}{rv.HITL}",
                                     token=viewer)  # fmt: skip
    assert status == 200 and detail["params"]["shards"]["value"] == [before["b.jsonl"]["key"]]
    status, body = rv.answer(airflow, run_id, viewer, "Publish all", shards=[], comment="")
    assert status == 403, body
    print(f"viewer refused {time.monotonic() - parked:.1f} s after the review was asked")
    assert wait_final(airflow, rv.REFRESH, run_id, 600) == "success"
    tis = task_instances(airflow, rv.REFRESH, run_id)
    assert tis["review"]["state"] == "success" and tis["publish"]["state"] == "success"
    status, detail = airflow.request("GET", f"/api/v2/dags/{rv.REFRESH}/dagRuns/{run_id}{rv.HITL}",
                                     token=airflow.token())  # fmt: skip
    assert detail["chosen_options"] == ["Reject run"] and detail["responded_by_user"] is None
    after = rv.manifest(root)
    b = after["b.jsonl"]
    assert (b["status"], b["step"], b["run_id"]) == ("rejected", "review", run_id)
    assert b["review"]["reviewer"] == "timeout"
    assert after["a.jsonl"] == before["a.jsonl"]  # unchanged, not reprocessed
    data = sorted(p.name for p in (root / "corpus" / "maga" / "data").glob("*.parquet"))
    assert data == [f"{before['a.jsonl']['key']}.parquet"]  # nothing new published


# --- the mix evaluation of that refresh, from its form, read in its tab ------------------

MIX_EVAL = "maga_mix_eval"


def read_mix_eval_tab(page: Any, airflow: Airflow) -> str:
    """Open the run page's 'Mix evaluation' tab; the report's text once it loaded."""
    try:
        return ui.read_tab(page, "Mix evaluation", "/mix_eval.html", ("Mix evaluation",), 60)
    except ui.TabNotLoaded:
        pytest.fail(f"mix evaluation never loaded in the tab:\n{_log_tail(airflow.log)}")


@pytest.mark.timeout(900)
def test_mix_eval_from_the_form_after_a_refresh_shows_its_table_in_its_tab(
    airflow: Airflow, reviewed: dict
) -> None:
    """After the reviewed refresh published shard a and exported its mixes, a person
    triggers maga_mix_eval from its form (tiny profile, that corpus, a short proxy run)
    and reads the recipes x held-out loss table in the run's 'Mix evaluation' tab."""
    from tests.plugins import review_ui as rv

    root = reviewed["root"]
    assert wait_final(airflow, rv.REFRESH, reviewed["run_id"], 600) == "success"
    output = root / "corpus" / "maga"
    assert (output / "mixes" / "maga_mix.hf.json").exists()
    short = [f"storage.root={root}", "mix_eval.proxy.steps=10", "mix_eval.heldout_docs=8",
             "mix_eval.recipes=[maga_mix,repetition]", "mix_eval.curve_multiples=[1,2]"]  # fmt: skip
    began = time.monotonic()
    with chromium() as page:
        login(page, airflow)
        open_trigger_form(page, airflow, MIX_EVAL)
        rv.choose(page, "profile", "tiny")
        page.type_into("input[name=element_output]", str(output))
        page.type_into("textarea[name=element_overrides]", "\n".join(short))
        assert form_problems(page) == []
        run_id = submit(page, MIX_EVAL)
        conf = run_info(airflow, MIX_EVAL, run_id)["conf"]
        assert (conf["profile"], conf["output"], conf["overrides"]) == ("tiny", str(output), short)
        assert wait_final(airflow, MIX_EVAL, run_id, 600) == "success"
        page.goto(f"{airflow.base}/dags/{MIX_EVAL}/runs/{quote(run_id, safe='')}")
        text = read_mix_eval_tab(page, airflow)
        page.screenshot(ARTIFACTS / "mix-eval-tab.png")
    (results,) = list((root / "runs" / MIX_EVAL).glob("*/results/results.json"))
    out = json.loads(results.read_text())
    assert set(out["table"]) == {"maga_mix", "repetition", "repetition_x2"}
    assert "Mix evaluation: does the expanded corpus help?" in text and "Recipes" in text
    for arm, groups in out["table"].items():  # every row of the table, with its figures
        cell = groups["all"]
        assert f"{arm}\t{cell['mean']:.4f} ± {cell['spread'] / 2:.4f}" in text, (arm, text[:2000])
    verdict = out["table"]["maga_mix"]["all"]["vs_repetition"]
    assert f"± {out['table']['maga_mix']['all']['spread'] / 2:.4f}" in text and verdict in text
    made_by = reviewed["run_id"]  # the refresh run that made the data, as Airflow names it
    assert out["data"]["refresh"]["run_ids"] == [made_by] and made_by in text
    print(f"mix evaluation from the form: {time.monotonic() - began:.0f} s to the tab")
