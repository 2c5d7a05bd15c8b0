"""Time the demo in Airflow as a user runs it, to compare with ``maga demo`` (issue 22).

Starts ``scripts/airflow-standalone.sh`` in a scratch folder, switches both DAGs on,
triggers ``maga_tool_models`` with the Trigger form's defaults (empty conf: the demo
profile), waits for it, then triggers ``maga_corpus_refresh`` the same way (what the
registration's Asset event does; the scheduler's own runs are off so that no cron run
lands beside it), waits, and prints each run's wall time and its slowest tasks as JSON (also written to
``--out``). Nothing here is faster than the form: the form posts the same run request.

``--form DIR`` does it as a person does instead (issue 26): headless Chromium logs in and
presses each DAG's Trigger button with the form's defaults, then, after the refresh,
switches ``maga_mix_eval`` on, triggers it from its form, and opens the refresh's
"Data quality report" tab and the evaluation's "Mix evaluation" tab. Their text and
screenshots go to DIR with the timings.

    .venv/bin/python scripts/airflow_demo_timing.py --out /tmp/af-demo.json
    .venv/bin/python scripts/airflow_demo_timing.py --form /tmp/af-demo-ui
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from contextlib import ExitStack
from pathlib import Path
from typing import Any
from urllib.parse import quote

ROOT = Path(__file__).resolve().parents[1]
TOOL, REFRESH, MIX_EVAL = "maga_tool_models", "maga_corpus_refresh", "maga_mix_eval"
TABS = {REFRESH: ("Data quality report", "/maga-dq/runs/", ("Data quality:", "Run failed")),
        MIX_EVAL: ("Mix evaluation", "/mix_eval.html", ("Mix evaluation",))}  # fmt: skip


def _port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Api:
    def __init__(self, base: str) -> None:
        self.base, self.token = base, ""

    def __call__(self, method: str, path: str, body: object = None) -> tuple[int, object]:
        req = urllib.request.Request(self.base + path, method=method,
                                     data=json.dumps(body).encode() if body is not None else None)  # fmt: skip
        req.add_header("Content-Type", "application/json")
        if self.token:
            req.add_header("Authorization", f"Bearer {self.token}")
        try:
            with urllib.request.urlopen(req, timeout=120) as res:
                return res.status, json.loads(res.read() or b"null")
        except urllib.error.HTTPError as err:
            return err.code, err.read().decode(errors="replace")


def _seconds(a: str | None, b: str | None) -> float | None:
    if not a or not b:
        return None
    return round((dt.datetime.fromisoformat(b) - dt.datetime.fromisoformat(a)).total_seconds(), 1)


def _wait_run(api: Api, dag: str, run_id: str, limit_s: float) -> dict:
    deadline = time.monotonic() + limit_s
    while True:
        status, run = api("GET", f"/api/v2/dags/{dag}/dagRuns/{run_id}")
        if status == 200 and run["state"] in ("success", "failed"):
            return run
        if time.monotonic() > deadline:
            raise SystemExit(f"{dag} {run_id} not finished in {limit_s:.0f}s: {run}")
        time.sleep(5)


def _summary(api: Api, dag: str, run: dict) -> dict:
    _, body = api("GET", f"/api/v2/dags/{dag}/dagRuns/{run['dag_run_id']}/taskInstances")
    tasks = sorted(((t["task_id"] + (f"[{t['map_index']}]" if t["map_index"] >= 0 else ""),
                     _seconds(t["start_date"], t["end_date"])) for t in body["task_instances"]),
                   key=lambda kv: -(kv[1] or 0))  # fmt: skip
    spans = sorted((t["start_date"], t["end_date"]) for t in body["task_instances"]
                   if t["start_date"] and t["end_date"])  # fmt: skip
    busy, end = 0.0, None  # the union of the task spans: the rest is waiting on the scheduler
    for a, b in spans:
        a = max(a, end) if end else a
        if b > a:
            busy, end = busy + _seconds(a, b), b
    wall = _seconds(run["start_date"], run["end_date"])
    return {"run_id": run["dag_run_id"], "state": run["state"], "wall_s": wall,
            "no_task_running_s": round(wall - busy, 1) if wall else None,
            "tasks_s": dict(tasks)}  # fmt: skip


def _scheduler_cpu_s(session: int) -> float:
    """CPU seconds the scheduler of this standalone (its process group) has used so far."""
    for proc in Path("/proc").iterdir():
        try:
            if os.getsid(int(proc.name)) != session:
                continue
            if b"scheduler" not in (proc / "cmdline").read_bytes():
                continue
            fields = (proc / "stat").read_text().rsplit(")", 1)[1].split()
        except (ValueError, OSError):
            continue
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    return float("nan")


class Form:
    """The Airflow UI in headless Chromium, as a person uses it (tests/plugins/airflow_ui.py)."""

    def __init__(self, page: Any, base: str, out: Path) -> None:
        self.page, self.base, self.out = page, base, out

    def trigger(self, dag: str) -> str:
        """Open the DAG's Trigger form, keep its defaults, press Trigger: the new run's id."""
        from tests.plugins.airflow_ui import open_trigger_form, submit

        open_trigger_form(self.page, self.base, dag)
        run_id = submit(self.page, dag)
        self.page.goto("about:blank")  # no page polling the API on the cores while it runs
        return run_id

    def read_tab(self, dag: str, run_id: str) -> str:
        """The run page's report tab: its text once loaded, and a screenshot beside it."""
        from tests.plugins.airflow_ui import read_tab

        self.page.goto(f"{self.base}/dags/{dag}/runs/{quote(run_id, safe='')}")
        text = read_tab(self.page, *TABS[dag], timeout=300)
        (self.out / f"{dag}-tab.txt").write_text(text)
        self.page.screenshot(self.out / f"{dag}-tab.png")
        return text


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, default=None)
    ap.add_argument("--limit-s", type=float, default=3600)
    ap.add_argument("--form", type=Path, default=None, metavar="DIR",
                    help="trigger from the Trigger forms in headless Chromium, then run "
                    "maga_mix_eval from its form; tab text and screenshots go to DIR")  # fmt: skip
    args = ap.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="af-demo-"))
    port = _port()
    env = {**os.environ, "MAGA_AIRFLOW_HOME": str(tmp / "airflow"), "MAGA_AIRFLOW_PORT": str(port),
           "MAGA_STORAGE_ROOT": str(tmp / "store"), "MAGA_HOME": str(tmp),
           "MAGA_ENGINE_HOST_DIR": str(tmp / "engine-hosts"),  # this run's hosts only
           "AIRFLOW__SCHEDULER__USE_JOB_SCHEDULE": "False",  # no cron run beside the demo
           "AIRFLOW__LOGGING__WORKER_LOG_SERVER_PORT": str(_port()),
           "AIRFLOW__LOGGING__TRIGGER_LOG_SERVER_PORT": str(_port())}  # fmt: skip
    env.pop("AIRFLOW_HOME", None)
    log = (tmp / "standalone.log").open("w")
    began = time.monotonic()
    proc = subprocess.Popen([str(ROOT / "scripts" / "airflow-standalone.sh")], cwd=ROOT, env=env,
                            stdout=log, stderr=subprocess.STDOUT, start_new_session=True)  # fmt: skip
    api = Api(f"http://127.0.0.1:{port}")
    try:
        while True:
            try:
                if api("GET", "/api/v2/monitor/health")[0] == 200:
                    break
            except OSError:
                pass
            if proc.poll() is not None or time.monotonic() - began > 600:
                raise SystemExit(f"airflow standalone did not come up: see {log.name}")
            time.sleep(2)
        ui_s = time.monotonic() - began
        password = json.loads((tmp / "airflow" / "simple_auth_manager_passwords.json").read_text())
        api.token = api("POST", "/auth/token", {"username": "admin",
                                                "password": password["admin"]})[1]["access_token"]  # fmt: skip
        dags = (TOOL, REFRESH, MIX_EVAL) if args.form else (TOOL, REFRESH)
        for dag in dags[:2]:
            while api("PATCH", f"/api/v2/dags/{dag}", {"is_paused": False})[0] != 200:
                time.sleep(2)  # not parsed yet
        with ExitStack() as stack:
            if args.form:
                sys.path.insert(0, str(ROOT))
                from tests.plugins.airflow_ui import login
                from tests.plugins.browser import chromium

                args.form.mkdir(parents=True, exist_ok=True)
                form = Form(stack.enter_context(chromium()), api.base, args.form)
                login(form.page, api.base, password["admin"])

            def trigger(dag: str) -> str:
                if args.form:
                    return form.trigger(dag)
                status, run = api("POST", f"/api/v2/dags/{dag}/dagRuns",
                                  {"logical_date": None, "conf": {}})  # fmt: skip
                assert status == 200, run
                return run["dag_run_id"]

            out: dict[str, Any] = {
                "machine": subprocess.run(["lscpu"], capture_output=True, text=True).stdout,
                "ui_ready_s": round(ui_s, 1), "loadavg": {}}  # fmt: skip
            for dag in dags:
                if dag == MIX_EVAL:  # switched on once there are published mixes to read
                    assert api("PATCH", f"/api/v2/dags/{dag}", {"is_paused": False})[0] == 200
                # the refresh is what the registration's Asset event would start (scheduling
                # is off here, so that no cron run of the profile lands beside it): same conf
                cpu = _scheduler_cpu_s(proc.pid)
                run = _wait_run(api, dag, trigger(dag), args.limit_s)
                out[dag] = _summary(api, dag, run)
                out[dag]["scheduler_cpu_s"] = round(_scheduler_cpu_s(proc.pid) - cpu, 1)
                out["loadavg"][dag] = os.getloadavg()
                if args.form and dag != TOOL:
                    out[dag]["tab_chars"] = len(form.read_tab(dag, run["dag_run_id"]))
        text = json.dumps(out, indent=1)
        print(text)
        if args.out:
            args.out.write_text(text)
        if args.form:
            (args.form / "timing.json").write_text(text)
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=120)
        sys.path.insert(0, str(ROOT))
        from maga.llm.host_find import stop_hosts

        print(f"engine hosts stopped: {stop_hosts(tmp / 'engine-hosts')}", file=sys.stderr)


if __name__ == "__main__":
    main()
