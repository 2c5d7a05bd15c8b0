"""Airflow 3 plugin: a "Data quality" view of the MAGA pipelines inside the Airflow UI.

A FastAPI app mounted at ``/maga-dq`` lists the runs of the MAGA DAGs with their gate
status and serves each run's ``report.html`` and great-expectations Data Docs. Two
external views put it in the UI: a "Data quality" entry in the navigation, and a
"Data quality report" tab on every DAG run page, and a "Mix evaluation" tab
(``maga_mix_eval``'s report; on a refresh run, the evaluations of its mixes).

Every route needs the caller's Airflow login (the UI's ``_token`` cookie or a
``Bearer`` token, checked by Airflow's own ``get_user``) and read access to the DAG's
runs; a request without one gets 401. A report that is missing, or older than the
run's ``summary.json``, is built on request in a subprocess (``maga report``), so the
API server never imports torch or great-expectations.
"""

from __future__ import annotations

import html
import mimetypes
import os
import re
import subprocess
import sys
import threading
from pathlib import PurePosixPath
from typing import Annotated, Any
from urllib.parse import quote

from airflow.plugins_manager import AirflowPlugin
from fastapi import Depends, FastAPI, HTTPException, Request
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response

URL_PREFIX = "/maga-dq"
DAG_IDS = ("maga_tool_models", "maga_corpus_refresh", "maga_mix_eval")
MIX_EVAL_DAG, MIX_EVAL_PAGE = "maga_mix_eval", "mix_eval.html"  # its own report page
PREPARE_TASK = "prepare_run"  # its return value is the run folder's URI
MAX_RUNS = 100
BUILD_TIMEOUT_S = int(os.environ.get("MAGA_REPORT_BUILD_TIMEOUT", "900"))
# Reports and Data Docs hold model text: served as static pages that may run no script
# and fetch nothing from elsewhere, framed only by the Airflow UI itself.
SAFE_HEADERS = {
    "Cache-Control": "no-store",
    "X-Content-Type-Options": "nosniff",
    "Content-Security-Policy": "default-src 'none'; style-src 'self' 'unsafe-inline'; "
    "img-src 'self' data:; frame-ancestors 'self'",
}
_BUILD_LOCKS: dict[str, threading.Lock] = {}
_LOCKS_GUARD = threading.Lock()

app = FastAPI(title="MAGA data quality", docs_url=None, redoc_url=None, openapi_url=None)


# --- auth -------------------------------------------------------------------------


class LoginRequired(Exception):
    """Raised for a request without a valid Airflow login."""

    def __init__(self, detail: str) -> None:
        super().__init__(detail)
        self.detail = detail


async def current_user(request: Request) -> Any:
    """The caller's Airflow user (cookie or bearer token); ``LoginRequired`` otherwise."""
    from airflow.api_fastapi.core_api.security import get_user
    from fastapi.security import HTTPAuthorizationCredentials

    header = request.headers.get("authorization", "")
    creds = None
    if header.lower().startswith("bearer "):
        creds = HTTPAuthorizationCredentials(scheme="Bearer", credentials=header[7:].strip())
    try:
        return await get_user(request, None, creds)
    except HTTPException as exc:
        raise LoginRequired(str(exc.detail)) from None


User = Annotated[Any, Depends(current_user)]


def _authorized_dags(user: Any) -> set[str]:
    from airflow.api_fastapi.app import get_auth_manager

    return get_auth_manager().filter_authorized_dag_ids(dag_ids=set(DAG_IDS), user=user)


def _require_dag(user: Any, dag_id: str) -> None:
    if dag_id not in DAG_IDS:
        raise HTTPException(404, f"{dag_id!r} is not a MAGA DAG")
    if dag_id not in _authorized_dags(user):
        raise HTTPException(403, f"no read access to the runs of {dag_id}")


@app.exception_handler(LoginRequired)
async def _login_required(request: Request, exc: LoginRequired) -> Response:
    if "text/html" not in request.headers.get("accept", ""):
        return JSONResponse({"detail": exc.detail}, status_code=401)
    login = f"{_base_path()}/auth/login?next={quote(str(request.url))}"
    body = (f"<!DOCTYPE html><title>Login required</title><h1>Login required</h1>"
            f"<p>The data-quality view needs an Airflow login ({html.escape(exc.detail)}).</p>"
            f'<p><a href="{html.escape(login)}" target="_top">Log in to Airflow</a></p>')  # fmt: skip
    return HTMLResponse(body, status_code=401)


# --- where runs live ----------------------------------------------------------------


def _base_path() -> str:
    """The UI's path prefix from ``[api] base_url`` ('' when served at the root)."""
    from urllib.parse import urlparse

    from airflow.configuration import conf

    return urlparse(conf.get("api", "base_url", fallback="") or "").path.rstrip("/")


def storage_root() -> str:
    """Where runs are stored by default: ``MAGA_STORAGE_ROOT`` or ``<MAGA_HOME>/var``."""
    from maga.runs.context import resolve_root

    return resolve_root(os.environ.get("MAGA_STORAGE_ROOT") or "var")


def _storage() -> Any:
    from maga.storage import Storage

    return Storage()


def _xcom_run_uri(dag_id: str, run_id: str) -> str | None:
    """The run folder the DAG's ``prepare_run`` task returned, if any."""
    try:
        from airflow.models.xcom import XComModel
        from airflow.utils.session import create_session

        with create_session() as session:
            query = XComModel.get_many(run_id=run_id, key="return_value", task_ids=PREPARE_TASK,
                                       dag_ids=dag_id, limit=1)  # fmt: skip
            row = session.scalars(query).first()
            value = XComModel.deserialize_value(row) if row is not None else None
    except Exception:  # no DB (tests), or an XCom backend we cannot read
        return None
    return value if isinstance(value, str) and value else None


def run_folder(dag_id: str, run_id: str) -> str:
    """The run's folder: from its ``prepare_run`` XCom, else under the storage root."""
    from maga.runs.context import safe_run_id
    from maga.storage import join_uri

    return _xcom_run_uri(dag_id, run_id) or join_uri(
        storage_root(), "runs", dag_id, safe_run_id(run_id)
    )


def _read_summary(storage: Any, run_uri: str) -> dict[str, Any] | None:
    from maga.storage import join_uri

    try:
        return storage.read_json(join_uri(run_uri, "summary.json"))
    except Exception:
        return None


def gate_status(summary: dict[str, Any] | None) -> dict[str, Any]:
    """'passed', 'failed' (with the failed gates), 'no gates yet' or 'no run folder'."""
    if summary is None:
        return {"status": "no run folder", "failed": []}
    gates = summary.get("gates") or {}
    failed = sorted(n for n, g in gates.items() if not g.get("passed"))
    stopped = sorted({f["task_id"] for f in summary.get("failures") or [] if f.get("final")})
    if stopped and not failed:
        return {"status": "failed", "failed": stopped}
    if not gates:
        return {"status": "no gates yet", "failed": []}
    return {"status": "failed" if failed else "passed", "failed": failed}


def _db_runs(dag_ids: set[str]) -> list[dict[str, Any]]:
    try:
        from airflow.models.dagrun import DagRun
        from airflow.utils.session import create_session
        from sqlalchemy import select

        with create_session() as session:
            rows = session.scalars(
                select(DagRun).where(DagRun.dag_id.in_(dag_ids))
                .order_by(DagRun.run_after.desc()).limit(MAX_RUNS)
            ).all()  # fmt: skip
            return [{"dag_id": r.dag_id, "run_id": r.run_id, "state": str(r.state or ""),
                     "started": r.start_date.isoformat(timespec="seconds")
                     if r.start_date else "", "in_airflow": True} for r in rows]  # fmt: skip
    except Exception:
        return []


def _folder_runs(dag_ids: set[str], known: set[tuple[str, str]]) -> list[dict[str, Any]]:
    """Run folders under a local storage root that Airflow does not know (CLI runs).
    Not done for an ``s3://`` root, where it would list every object of every run."""
    from pathlib import Path

    from maga.runs.context import safe_run_id
    from maga.storage import is_s3

    root = storage_root()
    if is_s3(root):
        return []
    known_safe = {(d, safe_run_id(r)) for d, r in known}
    found = []
    for dag_id in sorted(dag_ids):
        summaries = sorted(Path(root, "runs", dag_id).glob("*/summary.json"),
                           key=lambda p: p.stat().st_mtime, reverse=True)  # fmt: skip
        for summary in summaries[:MAX_RUNS]:
            run_id = summary.parent.name
            if (dag_id, run_id) not in known_safe:
                found.append({"dag_id": dag_id, "run_id": run_id, "state": "", "started": "",
                              "in_airflow": False})  # fmt: skip
    return found


def list_runs(dag_ids: set[str]) -> list[dict[str, Any]]:
    """Runs of the MAGA DAGs the user may read, newest first, with gate status."""
    runs = _db_runs(dag_ids)
    runs += _folder_runs(dag_ids, {(r["dag_id"], r["run_id"]) for r in runs})
    storage = _storage()
    for r in runs[: MAX_RUNS * 2]:
        r["run_uri"] = run_folder(r["dag_id"], r["run_id"])
        summary = _read_summary(storage, r["run_uri"])
        r.update(gate_status(summary))
        r["profile"] = (summary or {}).get("profile", "")
        r["report"] = f"{URL_PREFIX}/runs/{quote(r['dag_id'])}/{quote(r['run_id'], safe='')}/"
    return runs[: MAX_RUNS * 2]


# --- building and serving reports ---------------------------------------------------


def _lock(key: str) -> threading.Lock:
    with _LOCKS_GUARD:
        return _BUILD_LOCKS.setdefault(key, threading.Lock())


def report_is_current(storage: Any, run_uri: str) -> bool:
    """True when report.html exists and was built from the current summary.json."""
    from maga.storage import join_uri

    summary = _read_summary(storage, run_uri)
    try:
        page = storage.read_text(join_uri(run_uri, "report.html"))
    except Exception:
        return False
    found = re.search(r'<meta name="maga-summary-updated" content="([^"]*)"', page)
    stamp = (summary or {}).get("updated_at", "")
    return bool(found) and html.unescape(found.group(1)) == stamp


def build(run_uri: str) -> None:
    """Run ``maga report RUN_URI`` in a subprocess (raises with its output on failure)."""
    cmd = [sys.executable, "-m", "maga.cli", "report", run_uri]
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=BUILD_TIMEOUT_S,
                          env={**os.environ, "MAGA_LOG_LEVEL": "WARNING"})  # fmt: skip
    if done.returncode != 0:
        tail = (done.stderr or done.stdout or "")[-3000:]
        raise RuntimeError(f"maga report failed (exit {done.returncode}):\n{tail}")


def ensure_report(run_uri: str, rebuild: bool = False) -> None:
    storage = _storage()
    with _lock(run_uri):
        if rebuild or not report_is_current(storage, run_uri):
            build(run_uri)


def _safe_rel(path: str) -> str:
    parts = PurePosixPath(path).parts
    if not parts or any(p in ("..", "") or p.startswith(("/", "\\")) for p in parts):
        raise HTTPException(404, "not found")
    return "/".join(parts)


def _serve(run_uri: str, rel: str) -> Response:
    from maga.storage import join_uri

    try:
        data = _storage().read_bytes(join_uri(run_uri, rel))
    except Exception:
        raise HTTPException(404, f"{rel} not found for this run") from None
    kind = mimetypes.guess_type(rel)[0] or "application/octet-stream"
    return Response(data, media_type=kind, headers=SAFE_HEADERS)


# --- routes -------------------------------------------------------------------------

_STYLE = """<style>body{font-family:system-ui,sans-serif;margin:1rem 1.5rem;color:#1d1d1f}
table{border-collapse:collapse;font-size:.88rem}td,th{border:1px solid #ddd;padding:.3rem .5rem;
text-align:left}th{background:#f4f4f6}.b{padding:.05rem .45rem;border-radius:.7rem;
font-size:.8rem;font-weight:600}.passed{background:#e3f4e8;color:#1c7c3c}.failed{background:#fbe4e2;
color:#b3261e}.none{background:#eee;color:#666}a{color:#2f6db5}.m{color:#666;font-size:.85rem}
</style>"""


def _badge(status: str, failed: list[str]) -> str:
    cls = status if status in ("passed", "failed") else "none"
    extra = f" ({', '.join(failed)})" if failed else ""
    return f'<span class="b {cls}">{html.escape(status + extra)}</span>'


@app.get("/", response_class=HTMLResponse)
def runs_page(user: User) -> HTMLResponse:
    """The run list: both DAGs, gate status, links to reports, Data Docs and Airflow."""
    dags = _authorized_dags(user)
    runs = list_runs(dags)
    base = _base_path()
    rows = []
    for r in runs:
        airflow = (f'<a href="{base}/dags/{quote(r["dag_id"])}/runs/{quote(r["run_id"], safe="")}"'
                   ' target="_top">run in Airflow</a>' if r["in_airflow"] else "CLI run")  # fmt: skip
        report = f"{URL_PREFIX}/runs/{quote(r['dag_id'])}/{quote(r['run_id'], safe='')}"
        links = (f'<a href="{report}/report.html" class="report-link">report</a> · '
                 f'<a href="{report}/data_docs/index.html">Data Docs</a> · '
                 f'<a href="{report}/report.html" target="_blank">new tab</a>')  # fmt: skip
        if r["status"] == "no run folder":
            links = '<span class="m">no run folder yet</span>'
        rows.append(
            f'<tr data-dag="{html.escape(r["dag_id"])}" data-run="{html.escape(r["run_id"])}">'
            f"<td>{html.escape(r['dag_id'])}</td><td>{html.escape(r['run_id'])}</td>"
            f"<td>{html.escape(r['state'])}</td><td>{html.escape(r['started'])}</td>"
            f"<td>{html.escape(r['profile'])}</td><td>{_badge(r['status'], r['failed'])}</td>"
            f"<td>{links}</td><td>{airflow}</td></tr>"
        )
    table = "".join(rows) or '<tr><td colspan="8" class="m">No runs yet.</td></tr>'
    body = (f"<!DOCTYPE html><html><head><meta charset='utf-8'><title>Data quality</title>"
            f"{_STYLE}</head><body><h1>Data quality</h1><p class='m'>Runs of "
            f"{', '.join(sorted(dags)) or 'no DAG you can read'}, newest first. A report is "
            "built when first opened (or when its run has changed), which takes a minute."
            "</p><table><tr><th>DAG</th><th>run</th><th>state</th><th>started</th><th>profile"
            "</th><th>gates</th><th>report</th><th>Airflow</th></tr>"
            f"{table}</table></body></html>")  # fmt: skip
    return HTMLResponse(body)


@app.get("/api/runs")
def runs_json(user: User) -> list[dict[str, Any]]:
    """The run list as JSON."""
    return list_runs(_authorized_dags(user))


@app.get("/runs/{dag_id}/{run_id}/")
def run_index(dag_id: str, run_id: str, user: User) -> Response:
    _require_dag(user, dag_id)
    return RedirectResponse("report.html")


@app.get("/runs/{dag_id}/{run_id}/report.html")
def report_page(dag_id: str, run_id: str, user: User, rebuild: bool = False) -> Response:
    """The run's report, built first when missing or stale."""
    _require_dag(user, dag_id)
    run_uri = run_folder(dag_id, run_id)
    if _read_summary(_storage(), run_uri) is None:
        return _no_summary_page(dag_id, run_id, run_uri)
    if dag_id == MIX_EVAL_DAG:  # written by the run itself; `maga report` is for data quality
        return RedirectResponse(MIX_EVAL_PAGE)
    try:
        ensure_report(run_uri, rebuild=rebuild)
    except Exception as exc:
        page = (f"<!DOCTYPE html><title>Report failed</title>{_STYLE}<h1>Report not built</h1>"
                f"<pre>{html.escape(str(exc))}</pre>")  # fmt: skip
        return HTMLResponse(page, status_code=500)
    return _serve(run_uri, "report.html")


@app.get("/runs/{dag_id}/{run_id}/mix_eval.html")
def mix_eval_page(dag_id: str, run_id: str, user: User) -> Response:
    """The "Mix evaluation" tab: a maga_mix_eval run's report; on another run, the
    evaluations (registry of evaluations) of the mixes that run published."""
    _require_dag(user, dag_id)
    run_uri = run_folder(dag_id, run_id)
    if dag_id == MIX_EVAL_DAG:
        if _read_summary(_storage(), run_uri) is None:
            return _no_summary_page(dag_id, run_id, run_uri)
        return _serve(run_uri, MIX_EVAL_PAGE)
    from maga.runs.context import safe_run_id
    from maga.storage import join_uri

    storage, found = _storage(), []
    registry = join_uri(storage_root(), "evaluations", "mix_eval")
    for info in storage.list(registry, suffixes=("result.json",)):
        try:
            result = storage.read_json(info.uri)
        except Exception:
            continue
        made_by = (result.get("data") or {}).get("refresh", {}).get("run_ids", [])
        if run_id in made_by or safe_run_id(run_id) in made_by:
            found.append(result)
    links = "".join(
        f'<li><a href="{URL_PREFIX}/runs/{MIX_EVAL_DAG}/{quote(r["run_id"], safe="")}/'
        f'{MIX_EVAL_PAGE}">{html.escape(r["run_id"])}</a> ({html.escape(r["created_at"])}, '
        f"fingerprint {html.escape(r['fingerprint'])})</li>"
        for r in sorted(found, key=lambda r: r.get("created_at", ""), reverse=True)
    )
    body = (f"<!DOCTYPE html><title>Mix evaluation</title>{_STYLE}<h1>Mix evaluation</h1>"
            + (f"<p>Evaluations of the mixes this run published:</p><ul>{links}</ul>" if links
               else "<p class='m'>No mix evaluation of data from this run yet (the "
               "maga_mix_eval DAG runs when a corpus refresh exports mixes).</p>"))  # fmt: skip
    return HTMLResponse(body, headers=SAFE_HEADERS)


def _task_states(dag_id: str, run_id: str) -> list[dict[str, Any]]:
    """The run's task instances from Airflow's database ([] when it cannot be read)."""
    try:
        from airflow.models.taskinstance import TaskInstance
        from airflow.utils.session import create_session
        from sqlalchemy import select

        with create_session() as session:
            rows = session.scalars(select(TaskInstance).where(
                TaskInstance.dag_id == dag_id, TaskInstance.run_id == run_id)).all()  # fmt: skip
            return [{"task_id": r.task_id, "map_index": r.map_index, "state": str(r.state or ""),
                     "try_number": r.try_number} for r in rows]  # fmt: skip
    except Exception:
        return []


def _ti_name(t: dict[str, Any]) -> str:
    return t["task_id"] if t["map_index"] is None or t["map_index"] < 0 else (
        f"{t['task_id']}[{t['map_index']}]")  # fmt: skip


def _no_summary_page(dag_id: str, run_id: str, run_uri: str) -> HTMLResponse:
    """A run without ``summary.json`` (it failed before any stage finished): which task
    failed and why (the failure records maga's task wrappers keep), and every task's
    state in Airflow."""
    from maga.runs.failures import read_failures

    failures = read_failures(_storage(), run_uri)
    tasks = sorted(_task_states(dag_id, run_id), key=lambda t: (t["task_id"], t["map_index"]))
    failed = [t for t in tasks if t["state"] in ("failed", "upstream_failed")]
    title = "Run failed" if failures or failed else "No report yet"
    rows = "".join(
        f'<tr data-task="{html.escape(f["task_id"])}"><td>{html.escape(f["task_id"])}</td>'
        f"<td>{html.escape(str(f.get('reason', '')))}</td><td>{f.get('try_number') or ''}</td>"
        f"<td>{'no' if f.get('final') else 'yes'}</td></tr>"
        for f in failures
    )
    states = "".join(
        f"<tr><td>{html.escape(_ti_name(t))}</td><td>{html.escape(t['state'] or 'not started')}"
        f"</td><td>{t['try_number']}</td></tr>"
        for t in tasks
    )
    body = [f"<!DOCTYPE html><html><head><meta charset='utf-8'><title>{title}: "
            f"{html.escape(dag_id)} run {html.escape(run_id)}</title>{_STYLE}</head><body>"
            f"<h1>{title}</h1><p>Run <b>{html.escape(run_id)}</b> of {html.escape(dag_id)} has "
            f"no <code>summary.json</code> at <code>{html.escape(run_uri)}</code>: no stage "
            "finished, so there is no data-quality report.</p>"]  # fmt: skip
    if rows:
        body.append("<h2>Failed tasks</h2><table class='failures'><tr><th>task</th><th>reason"
                    f"</th><th>try</th><th>retried?</th></tr>{rows}</table>")  # fmt: skip
    if states:
        body.append("<h2>Tasks</h2><table><tr><th>task</th><th>state</th><th>try</th></tr>"
                    f"{states}</table>")  # fmt: skip
    return HTMLResponse("".join(body) + "</body></html>", status_code=404)


@app.get("/runs/{dag_id}/{run_id}/data_docs/{path:path}")
def data_docs(dag_id: str, run_id: str, path: str, user: User) -> Response:
    """Files of the run's great-expectations Data Docs."""
    _require_dag(user, dag_id)
    return _serve(run_folder(dag_id, run_id), "data_docs/" + _safe_rel(path or "index.html"))


class MagaDataQualityPlugin(AirflowPlugin):
    """Registers the app and its two places in the Airflow UI."""

    name = "maga_data_quality"
    fastapi_apps = [{"app": app, "url_prefix": URL_PREFIX, "name": "MAGA data quality"}]
    external_views = [
        {
            "name": "Data quality",
            "href": f"{URL_PREFIX.lstrip('/')}/",
            "destination": "nav",
            "url_route": "data-quality",
            "category": "browse",
        },
        {
            "name": "Data quality report",
            "href": f"{_base_path()}{URL_PREFIX}/runs/{{DAG_ID}}/{{RUN_ID}}/report.html",
            "destination": "dag_run",
            "url_route": "data-quality-report",
        },
        {
            "name": "Mix evaluation",
            "href": f"{_base_path()}{URL_PREFIX}/runs/{{DAG_ID}}/{{RUN_ID}}/{MIX_EVAL_PAGE}",
            "destination": "dag_run",
            "url_route": "mix-evaluation",
        },
    ]
