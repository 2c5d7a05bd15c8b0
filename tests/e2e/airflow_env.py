"""A throwaway Airflow home on SQLite for end-to-end tests, and helpers to query it."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

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
