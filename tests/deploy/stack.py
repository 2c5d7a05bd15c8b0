"""A production-shaped Airflow deployment on one machine, for the multi-worker test.

PostgreSQL (metadata database and Celery results) and Redis (Celery broker) from the
Debian packages, then Airflow 3 as separate processes sharing one AIRFLOW_HOME, the
way ``docker-compose.yaml`` runs them in separate containers: ``api-server``,
``scheduler``, ``dag-processor``, ``triggerer`` and Celery workers, with the
CeleryExecutor and the FAB auth manager. Every process is started in its own session
(process group) on free ports on 127.0.0.1, and stopped by its PID; its output goes to
a log file whose tail :meth:`Stack.log_tails` prints when something fails.

Each Celery worker gets its own node name (``--celery-hostname``) and reports the same
name as the task instances' ``hostname`` through ``maga.deploy.hostname``.
"""

from __future__ import annotations

import contextlib
import json
import os
import pwd
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from maga.llm.lifecycle import descendants
from tests.s3server import free_ports

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
AIRFLOW = str(BIN / "airflow")
ADMIN = "admin"


class StackError(RuntimeError):
    """A component did not start; the message names it and ends with its log tail."""


def _tail(path: Path, lines: int) -> str:
    try:
        text = path.read_text(errors="replace").splitlines()
    except OSError:
        return "(no log)"
    return "\n".join(text[-lines:])


def _die_with_parent() -> None:
    """In the child before exec: SIGKILL it if pytest dies, so nothing outlives a killed
    run (Linux only; a normal end stops everything through ``Stack.stop``)."""
    with contextlib.suppress(OSError, AttributeError):
        import ctypes

        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG


@dataclass
class Proc:
    """One started process (and its process group), with its log file."""

    name: str
    popen: subprocess.Popen
    log: Path

    @property
    def pid(self) -> int:
        return self.popen.pid

    def alive(self) -> bool:
        return self.popen.poll() is None

    def tail(self, lines: int = 40) -> str:
        return _tail(self.log, lines)

    def stop(self, grace_s: float = 20.0) -> None:
        """SIGTERM to the process group, then SIGKILL to the group and to every
        descendant seen before (Airflow runs each task in a process group of its own, so
        a task and its vLLM engine process would otherwise outlive a killed worker)."""
        pgid = self.popen.pid  # started with start_new_session: pgid == pid
        tree = descendants(pgid)  # the project's one process-tree walk
        with contextlib.suppress(ProcessLookupError):
            os.killpg(pgid, signal.SIGTERM)
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.popen.wait(timeout=grace_s)
        with contextlib.suppress(ProcessLookupError):
            os.killpg(pgid, signal.SIGKILL)
        for pid in tree:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(pid, signal.SIGKILL)
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.popen.wait(timeout=10)


def postgres_bindir() -> Path | None:
    """The newest PostgreSQL server's bin folder (Debian: /usr/lib/postgresql/<v>/bin)."""
    env = os.environ.get("MAGA_PG_BINDIR")
    candidates = [Path(env)] if env else []
    versions = sorted(Path("/usr/lib/postgresql").glob("*/bin"),
                      key=lambda p: int(p.parent.name) if p.parent.name.isdigit() else 0,
                      reverse=True)  # fmt: skip
    candidates += versions
    found = shutil.which("initdb")
    if found:
        candidates.append(Path(found).parent)
    return next((p for p in candidates if (p / "initdb").is_file() and (p / "postgres").is_file()),
                None)  # fmt: skip


def redis_binary() -> str | None:
    """``$MAGA_REDIS_SERVER`` when it is an executable, else ``redis-server`` on PATH."""
    env = os.environ.get("MAGA_REDIS_SERVER")
    if env and os.access(env, os.X_OK):
        return env
    return shutil.which("redis-server")


def missing_binaries() -> list[str]:
    """What of PostgreSQL and Redis is not installed (scripts/ci-system-deps.sh installs
    both)."""
    missing = []
    if postgres_bindir() is None:
        missing.append("postgresql (initdb, postgres)")
    if redis_binary() is None:
        missing.append("redis-server")
    return missing


def http_json(method: str, url: str, body: Any = None, token: str | None = None,
              timeout_s: float = 60) -> tuple[int, Any]:  # fmt: skip
    """(status, parsed JSON or text) of a request that bypasses any proxy."""
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(url, data=data, method=method)
    req.add_header("Content-Type", "application/json")
    if token:
        req.add_header("Authorization", f"Bearer {token}")
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    try:
        with opener.open(req, timeout=timeout_s) as res:
            raw, status, kind = res.read(), res.status, res.headers.get("content-type", "")
    except urllib.error.HTTPError as err:
        raw, status, kind = err.read(), err.code, err.headers.get("content-type", "")
    text = raw.decode("utf-8", "replace")
    return status, json.loads(text) if "json" in kind and text else text


@dataclass
class Stack:
    """Everything started for one test, stopped in reverse order by :meth:`stop`."""

    workdir: Path
    procs: list[Proc] = field(default_factory=list)
    env: dict[str, str] = field(default_factory=dict)
    api_url: str = ""
    password: str = ""
    pg_dir: Path | None = None
    workers: dict[str, Proc] = field(default_factory=dict)
    started_in_s: float = 0.0

    # --- process handling ---------------------------------------------------------

    def spawn(self, name: str, cmd: list[str], env: dict[str, str] | None = None,
              user: str | None = None, cwd: Path | None = None) -> Proc:  # fmt: skip
        log = self.workdir / "logs" / f"{name}.log"
        log.parent.mkdir(parents=True, exist_ok=True)
        if user is not None:
            cmd = ["runuser", "-u", user, "--", *cmd]
        with log.open("ab") as out:
            popen = subprocess.Popen(
                cmd,
                cwd=cwd or self.workdir,
                env=env if env is not None else self.env,
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
                preexec_fn=_die_with_parent if sys.platform == "linux" else None,
            )
        proc = Proc(name, popen, log)
        self.procs.append(proc)
        return proc

    def run(self, name: str, cmd: list[str], timeout_s: float = 600, **kw: Any) -> None:
        """A one-shot command; raises StackError with its output when it fails."""
        proc = self.spawn(name, cmd, **kw)
        try:
            code = proc.popen.wait(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            proc.stop(grace_s=5)
            raise StackError(f"{name} did not finish in {timeout_s:.0f}s:\n{proc.tail()}") from None
        finally:
            self.procs.remove(proc)
        if code != 0:
            raise StackError(f"{name} exited with {code}:\n{proc.tail()}")

    def wait_for(self, what: str, check: Callable[[], bool], timeout_s: float,
                 procs: list[Proc] | None = None) -> None:  # fmt: skip
        """Poll ``check`` until true; fail early when one of ``procs`` has exited."""
        deadline = time.monotonic() + timeout_s
        while True:
            for proc in procs or []:
                if not proc.alive():
                    raise StackError(f"{proc.name} exited ({proc.popen.returncode}) while "
                                     f"waiting for {what}:\n{proc.tail()}")  # fmt: skip
            with contextlib.suppress(OSError):
                if check():
                    return
            if time.monotonic() > deadline:
                raise StackError(f"{what}: not ready after {timeout_s:.0f}s\n{self.log_tails()}")
            time.sleep(1)

    def log_tails(self, lines: int = 40) -> str:
        """The tail of every component's log, for a failure message."""
        parts = []
        for proc in self.procs:
            state = "running" if proc.alive() else f"exited {proc.popen.returncode}"
            parts.append(f"----- {proc.name} (pid {proc.pid}, {state}): {proc.log} -----\n"
                         f"{proc.tail(lines)}")  # fmt: skip
        return "\n".join(parts)

    def stop(self) -> None:
        """Stop every process by its PID, newest first (workers before the database)."""
        for proc in reversed(self.procs):
            proc.stop(grace_s=5 if proc.name.startswith("worker") else 20)
        if self.pg_dir is not None:
            shutil.rmtree(self.pg_dir, ignore_errors=True)

    # --- PostgreSQL and Redis -------------------------------------------------------

    def start_postgres(self, password: str) -> str:
        """A fresh cluster on a free port, database and superuser ``airflow``; returns
        ``host:port``. Postgres refuses to run as root, so as root it runs as the
        ``postgres`` user from the Debian package, in a folder of its own under /tmp."""
        bindir = postgres_bindir()
        assert bindir is not None
        user = None
        self.pg_dir = Path(tempfile.mkdtemp(prefix="maga-pg-"))
        if os.geteuid() == 0:
            user = "postgres"
            pw = pwd.getpwnam(user)
            os.chown(self.pg_dir, pw.pw_uid, pw.pw_gid)
        data, sock = self.pg_dir / "data", self.pg_dir
        pwfile = self.pg_dir / "pwfile"
        pwfile.write_text(password + "\n")
        if user is not None:
            os.chown(pwfile, pw.pw_uid, pw.pw_gid)
        pwfile.chmod(0o600)
        self.run("initdb", [str(bindir / "initdb"), "-D", str(data), "-U", "airflow",
                            f"--pwfile={pwfile}", "--auth=scram-sha-256", "-E", "UTF8",
                            "--no-sync"], user=user, timeout_s=120)  # fmt: skip
        pwfile.unlink()
        (port,) = free_ports(1)
        pg = self.spawn("postgres", [str(bindir / "postgres"), "-D", str(data), "-p", str(port),
                                     "-k", str(sock), "-c", "listen_addresses=127.0.0.1",
                                     "-c", "fsync=off", "-c", "max_connections=200"],
                        user=user)  # fmt: skip
        env = {**self.env, "PGPASSWORD": password}
        ready = [str(bindir / "pg_isready"), "-h", "127.0.0.1", "-p", str(port), "-U", "airflow"]
        self.wait_for("postgres", lambda: subprocess.run(ready, env=env, capture_output=True)
                      .returncode == 0, 60, [pg])  # fmt: skip
        self.run("createdb", [str(bindir / "createdb"), "-h", "127.0.0.1", "-p", str(port),
                              "-U", "airflow", "airflow"], env=env, timeout_s=60)  # fmt: skip
        return f"127.0.0.1:{port}"

    def start_redis(self, password: str) -> str:
        """redis-server on a free port, password required, nothing persisted."""
        import redis

        (port,) = free_ports(1)
        conf = self.workdir / "redis.conf"  # keeps the password off the command line
        conf.write_text(f"port {port}\nbind 127.0.0.1\nrequirepass {password}\nsave \"\"\n"
                        f"appendonly no\ndaemonize no\ndir {self.workdir}\n")  # fmt: skip
        conf.chmod(0o600)
        server = self.spawn("redis", [str(redis_binary()), str(conf)])
        client = redis.Redis(host="127.0.0.1", port=port, password=password,
                             socket_connect_timeout=1)  # fmt: skip

        def ping() -> bool:
            try:
                return bool(client.ping())
            except redis.exceptions.ConnectionError:
                return False

        self.wait_for("redis", ping, 30, [server])
        return f"127.0.0.1:{port}"

    # --- Airflow ------------------------------------------------------------------

    def api(self, method: str, path: str, body: Any = None, token: str | None = None) -> tuple[
            int, Any]:  # fmt: skip
        return http_json(method, self.api_url + path, body, token)

    def token(self) -> str:
        status, body = self.api("POST", "/auth/token", {"username": ADMIN,
                                                         "password": self.password})  # fmt: skip
        if status != 201:
            raise StackError(f"login refused ({status}): {body}")
        return body["access_token"]

    def start_airflow(self, extra_env: dict[str, str], worker_names: list[str],
                      worker_env: Callable[[str], dict[str, str]],
                      worker_queues: Callable[[str], str] = lambda name: "default",
                      ) -> None:  # fmt: skip
        """Migrate, create the admin, then start every component and wait until the API
        answers, the workers are up and the DAG files are parsed. ``worker_queues``:
        the Celery queues (comma-separated) each worker serves."""
        pg_password, redis_password = secrets.token_hex(16), secrets.token_hex(16)
        self.env = _base_env(self.workdir)
        pg = self.start_postgres(pg_password)
        broker = self.start_redis(redis_password)
        api_port, trigger_log_port, *log_ports = free_ports(2 + len(worker_names))
        self.api_url = f"http://127.0.0.1:{api_port}"
        self.password = secrets.token_urlsafe(18)
        from cryptography.fernet import Fernet

        self.env.update({
            # Same settings as docker-compose.yaml's x-airflow-common environment.
            "AIRFLOW__CORE__EXECUTOR": "CeleryExecutor",
            "AIRFLOW__CORE__AUTH_MANAGER":
                "airflow.providers.fab.auth_manager.fab_auth_manager.FabAuthManager",
            "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN":
                f"postgresql+psycopg2://airflow:{pg_password}@{pg}/airflow",
            "AIRFLOW__CELERY__RESULT_BACKEND": f"db+postgresql://airflow:{pg_password}@{pg}/airflow",
            "AIRFLOW__CELERY__BROKER_URL": f"redis://:{redis_password}@{broker}/0",
            "AIRFLOW__CELERY__WORKER_CONCURRENCY": "1",
            "AIRFLOW__OPERATORS__DEFAULT_QUEUE": "default",
            "AIRFLOW__CORE__FERNET_KEY": Fernet.generate_key().decode(),
            "AIRFLOW__API__SECRET_KEY": secrets.token_hex(16),
            "AIRFLOW__API_AUTH__JWT_SECRET": secrets.token_hex(32),
            "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"{self.api_url}/execution/",
            "AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION": "True",
            "AIRFLOW__CORE__HOSTNAME_CALLABLE": "maga.deploy.hostname.get_hostname",
            # Where this test differs from compose: one host, so ports are picked here.
            "AIRFLOW__API__HOST": "127.0.0.1",
            "AIRFLOW__API__PORT": str(api_port),
            "AIRFLOW__API__BASE_URL": self.api_url,
            "AIRFLOW__API__WORKERS": "1",
            "AIRFLOW__LOGGING__TRIGGER_LOG_SERVER_PORT": str(trigger_log_port),
            **extra_env,
        })  # fmt: skip
        self.run("db-migrate", [AIRFLOW, "db", "migrate"], timeout_s=600)
        # as docker/airflow-init.sh does: the model tasks' pools (maga.deploy.routing)
        self.run("pools", [sys.executable, "-m", "maga.deploy.routing"], timeout_s=300)
        self.run("users-create", [AIRFLOW, "users", "create", "--role", "Admin",
                                  "--username", ADMIN, "--password", self.password,
                                  "--email", "admin@example.org", "--firstname", "Admin",
                                  "--lastname", "Maga"], timeout_s=300)  # fmt: skip
        api = self.spawn("api-server", [AIRFLOW, "api-server"])
        core = [api, self.spawn("scheduler", [AIRFLOW, "scheduler"]),
                self.spawn("dag-processor", [AIRFLOW, "dag-processor"]),
                self.spawn("triggerer", [AIRFLOW, "triggerer"])]  # fmt: skip
        for name, port in zip(worker_names, log_ports, strict=True):
            env = {**self.env, **worker_env(name), "MAGA_WORKER_HOSTNAME": name,
                   "AIRFLOW__LOGGING__WORKER_LOG_SERVER_PORT": str(port)}  # fmt: skip
            self.workers[name] = self.spawn(
                f"worker-{name}",
                [AIRFLOW, "celery", "worker", "--queues", worker_queues(name),
                 "--concurrency", "1", "--celery-hostname", name],
                env=env)  # fmt: skip
        everything = core + list(self.workers.values())
        self.wait_for("api-server", lambda: self.api("GET", "/api/v2/monitor/health")[0] == 200,
                      300, everything)  # fmt: skip
        for name, proc in self.workers.items():
            # Celery prints "<node> ready." once it consumes from the broker.
            self.wait_for(f"worker {name}", lambda p=proc, n=name: f"@{n} ready." in
                          p.log.read_text(errors="replace"), 180, everything)  # fmt: skip


def _base_env(workdir: Path) -> dict[str, str]:
    """The test's environment minus ambient cloud credentials, plus an isolated
    AIRFLOW_HOME reading this repository's dags/ and plugins/."""
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("AWS_", "AIRFLOW", "MAGA_S3_", "PG", "REDIS"))}  # fmt: skip
    env.update({
        "AIRFLOW_HOME": str(workdir / "airflow"),
        "AIRFLOW__CORE__DAGS_FOLDER": str(ROOT / "dags"),
        "AIRFLOW__CORE__PLUGINS_FOLDER": str(ROOT / "plugins"),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__CORE__UNIT_TEST_MODE": "False",
        "AWS_CONFIG_FILE": os.devnull,
        "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
        "NO_PROXY": "127.0.0.1,localhost",
        "no_proxy": "127.0.0.1,localhost",
        "PATH": f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}",
        "PYTHONUNBUFFERED": "1",
        "MAGA_HOME": str(ROOT),
    })  # fmt: skip
    return env
