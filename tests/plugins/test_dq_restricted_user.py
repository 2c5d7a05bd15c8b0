"""The data-quality plugin's 403 path with a real restricted user: Airflow's API server
with the FAB auth manager (SQLite), a role that may read ``maga_corpus_refresh`` only,
and a user in it who logs in through ``/auth/token``. Their token reaches the refresh's
runs and is refused those of ``maga_tool_models``; the run list shows only what they may
read. (The admin sees both.)"""

from __future__ import annotations

import json
import secrets
from collections.abc import Iterator

import pytest

from tests.deploy.stack import AIRFLOW, Stack, _base_env
from tests.s3server import free_ports

pytestmark = [pytest.mark.slow, pytest.mark.timeout(900)]
ROLE, USER = "maga_refresh_readers", "reader"


@pytest.fixture(scope="module")
def api(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Stack, dict[str, str]]]:
    st = Stack(tmp_path_factory.mktemp("fab"))
    (port,) = free_ports(1)
    st.api_url = f"http://127.0.0.1:{port}"
    st.env = _base_env(st.workdir)
    st.env.update({
        "AIRFLOW__CORE__AUTH_MANAGER":
            "airflow.providers.fab.auth_manager.fab_auth_manager.FabAuthManager",
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{st.workdir / 'airflow.db'}",
        "AIRFLOW__API__SECRET_KEY": secrets.token_hex(16),
        "AIRFLOW__API_AUTH__JWT_SECRET": secrets.token_hex(32),
        "AIRFLOW__API__HOST": "127.0.0.1", "AIRFLOW__API__PORT": str(port),
        "AIRFLOW__API__BASE_URL": st.api_url, "AIRFLOW__API__WORKERS": "1",
        "MAGA_STORAGE_ROOT": str(st.workdir / "store"),
    })  # fmt: skip
    for dag_id in ("maga_tool_models", "maga_corpus_refresh"):  # one run folder each
        run = st.workdir / "store" / "runs" / dag_id / "r1"
        run.mkdir(parents=True)
        (run / "summary.json").write_text(json.dumps(
            {"dag_id": dag_id, "run_id": "r1", "stages": {}, "gates": {},
             "updated_at": "2026-11-25T00:00:00+00:00"}))  # fmt: skip
    passwords = {"admin": secrets.token_urlsafe(12), USER: secrets.token_urlsafe(12)}
    try:
        st.run("db-migrate", [AIRFLOW, "db", "migrate"], timeout_s=600)
        # the DAGs into the DB, then their per-DAG permissions into FAB's tables
        st.run("reserialize", [AIRFLOW, "dags", "reserialize"], timeout_s=300)
        st.run("sync-perm", [AIRFLOW, "sync-perm", "--include-dags"], timeout_s=300)
        st.run("role", [AIRFLOW, "roles", "create", ROLE])
        for action in ("can_read",):
            st.run("perm", [AIRFLOW, "roles", "add-perms", ROLE, "-r",
                            "DAG:maga_corpus_refresh", "-a", action])  # fmt: skip
        for name, role in (("admin", "Admin"), (USER, ROLE)):
            st.run(f"user-{name}", [AIRFLOW, "users", "create", "--role", role,
                                    "--username", name, "--password", passwords[name],
                                    "--email", f"{name}@example.org", "--firstname", name,
                                    "--lastname", "Maga"], timeout_s=300)  # fmt: skip
        server = st.spawn("api-server", [AIRFLOW, "api-server"])
        st.wait_for("api-server", lambda: st.api("GET", "/api/v2/monitor/health")[0] == 200,
                    300, [server])  # fmt: skip
        yield st, passwords
    finally:
        st.stop()


def _token(st: Stack, user: str, password: str) -> str:
    status, body = st.api("POST", "/auth/token", {"username": user, "password": password})
    assert status == 201, body
    return body["access_token"]


def test_restricted_user_is_refused_the_dag_it_may_not_read(api):
    st, passwords = api
    token = _token(st, USER, passwords[USER])
    status, body = st.api("GET", "/maga-dq/runs/maga_tool_models/r1/report.html", token=token)
    assert status == 403, body
    status, _ = st.api("GET", "/maga-dq/runs/maga_tool_models/r1/", token=token)
    assert status == 403
    assert "no read access to the runs of maga_tool_models" in str(body)
    # the DAG they may read: past the permission check (no such run yet: 404, not 403)
    status, body = st.api("GET", "/maga-dq/runs/maga_corpus_refresh/r2/report.html",
                          token=token)  # fmt: skip
    assert status == 404, body
    status, runs = st.api("GET", "/maga-dq/api/runs", token=token)
    assert status == 200 and {r["dag_id"] for r in runs} == {"maga_corpus_refresh"}, runs
    admin = _token(st, "admin", passwords["admin"])
    status, _ = st.api("GET", "/maga-dq/runs/maga_tool_models/r2/report.html", token=admin)
    assert status == 404  # the admin passes the same check
    status, runs = st.api("GET", "/maga-dq/api/runs", token=admin)
    assert {r["dag_id"] for r in runs} == {"maga_tool_models", "maga_corpus_refresh"}, runs
