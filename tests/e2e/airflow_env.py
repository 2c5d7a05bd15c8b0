"""A throwaway Airflow home on SQLite for end-to-end tests, and helpers to query it."""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
AIRFLOW = str(Path(sys.executable).with_name("airflow"))


def airflow_env(home: Path, store: Path) -> dict[str, str]:
    env = dict(os.environ)
    env.update(
        {
            "AIRFLOW_HOME": str(home),
            "AIRFLOW__CORE__DAGS_FOLDER": str(ROOT / "dags"),
            "AIRFLOW__CORE__PLUGINS_FOLDER": str(ROOT / "plugins"),
            "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
            "AIRFLOW__CORE__UNIT_TEST_MODE": "False",
            "MAGA_STORAGE_ROOT": str(store),
            "PYTHONUNBUFFERED": "1",
        }
    )
    return env


def migrate(env: dict[str, str]) -> None:
    subprocess.run(
        [AIRFLOW, "db", "migrate"], env=env, check=True, capture_output=True, text=True, timeout=600
    )


def dags_test(env: dict[str, str], dag_id: str, conf: dict, log: Path) -> int:
    with log.open("w") as fh:
        proc = subprocess.run(
            [AIRFLOW, "dags", "test", dag_id, "--conf", json.dumps(conf)],
            env=env,
            stdout=fh,
            stderr=subprocess.STDOUT,
            timeout=3000,
        )
    return proc.returncode


QUERY = """
import json, sys
from airflow.utils.session import create_session
from airflow.models import DagRun, TaskInstance
from airflow.models.asset import AssetEvent
dag_id = sys.argv[1]
with create_session() as s:
    runs = s.query(DagRun).filter(DagRun.dag_id == dag_id).order_by(DagRun.id).all()
    run = runs[-1]
    tis = s.query(TaskInstance).filter(TaskInstance.dag_id == dag_id,
                                       TaskInstance.run_id == run.run_id).all()
    events = [e.extra for e in s.query(AssetEvent).all()]
    print(json.dumps({"run_id": run.run_id, "state": str(run.state),
                      "tasks": {t.task_id: str(t.state) for t in tis},
                      "tries": {t.task_id: t.try_number for t in tis},
                      "hostnames": {t.task_id: t.hostname for t in tis},
                      "asset_events": events}))
"""


def query_db(env: dict[str, str], script: str, dag_id: str) -> dict:
    """Run ``script`` (which prints one JSON line last) against Airflow's metadata DB."""
    out = subprocess.run(
        [sys.executable, "-c", script, dag_id],
        env=env,
        check=True,
        capture_output=True,
        text=True,
        timeout=300,
    ).stdout
    return json.loads(out.strip().splitlines()[-1])


def last_run(env: dict[str, str], dag_id: str) -> dict:
    return query_db(env, QUERY, dag_id)


class ApiServer:
    """``airflow api-server`` on the test's metadata DB (SimpleAuthManager, user admin):
    the real REST API, through which a person answers a review that ``airflow dags test``
    waits for (the run's tasks stay in that process)."""

    def __init__(self, env: dict[str, str], home: Path) -> None:
        from tests.deploy.stack import http_json
        from tests.s3server import free_ports

        self.http_json, port = http_json, free_ports(1)[0]
        self.base = f"http://127.0.0.1:{port}"
        self.password = secrets.token_urlsafe(12)
        passwords = home / "api_passwords.json"
        passwords.write_text(json.dumps({"admin": self.password}))
        self.env = {**env, "AIRFLOW__API__PORT": str(port), "AIRFLOW__API__WORKERS": "1",
                    "AIRFLOW__API__BASE_URL": self.base,
                    "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS": "admin:admin",
                    "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_ALL_ADMINS": "False",
                    "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE": str(passwords)}  # fmt: skip
        self.log = home / "api-server.log"
        self.token = ""

    def __call__(self, method: str, path: str, body: Any = None) -> tuple[int, Any]:
        return self.http_json(method, self.base + path, body, self.token)

    @contextlib.contextmanager
    def running(self, timeout_s: float = 300) -> Iterator[ApiServer]:
        with self.log.open("w") as out:
            proc = subprocess.Popen([AIRFLOW, "api-server"], env=self.env, stdout=out,
                                    stderr=subprocess.STDOUT, start_new_session=True)  # fmt: skip
        try:
            deadline = time.monotonic() + timeout_s
            while not self._healthy():
                assert proc.poll() is None, self.log.read_text()[-3000:]
                assert time.monotonic() < deadline, self.log.read_text()[-3000:]
                time.sleep(1)
            status, body = self("POST", "/auth/token",
                                {"username": "admin", "password": self.password})  # fmt: skip
            assert status == 201, body
            self.token = body["access_token"]
            yield self
        finally:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGTERM)
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(timeout=30)

    def _healthy(self) -> bool:
        try:
            return self("GET", "/api/v2/monitor/health")[0] == 200
        except OSError:
            return False
