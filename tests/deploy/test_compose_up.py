"""``docker compose up`` for real: the images built, both DAGs run in containers.

On a real Docker engine (started here when none runs, see tests/deploy/engine.py):

1. stand-ins for the base images no registry serves on the test machine are built from
   a debootstrap'ed Debian 12 and Debian/PyPI packages (tests/deploy/standins/): Airflow
   3.3.2 with the official image's conventions, PostgreSQL, Redis and SeaweedFS;
2. the project's image is built from docker/airflow.Dockerfile through the compose
   file's own build section, with only the base image overridden (plus the machine's CA
   bundle as the extra-CA build secret, the local torch wheelhouse and host networking
   for RUN steps: the build inputs docs/deploy.md describes for proxied/offline sites);
3. ``docker compose up -d`` runs docker-compose.yaml with .env.example, in which only
   the image variables, the secrets (generated) and the host addresses/ports change;
4. every health check must pass, then through the authenticated REST API
   ``maga_tool_models`` (tiny) runs on one Celery worker, the workers are scaled to 2,
   and ``maga_corpus_refresh`` runs on four source shards uploaded to the stack's S3,
   with a person's review before publish answered through the REST API (a rejection
   without comment first, which must reopen the review; then Publish all);
5. the registry and the published shards are checked in the S3 service, and both
   worker containers must have run shard tasks; ``docker compose down -v`` at the end.

Timings (builds, compose up to healthy, each DAG run, disk) are printed and kept in
var/test-artifacts/compose-up/summary.json. Run it with ``make deploy-test``.
"""

from __future__ import annotations

import base64
import contextlib
import io
import json
import os
import re
import secrets
import shutil
import socket
import subprocess
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from tests.conftest import require
from tests.deploy import engine
from tests.deploy.compose_review import Review
from tests.deploy.stack import http_json
from tests.refresh.helpers import docs, shard_bytes
from tests.test_compose import ENV_EXAMPLE, _compose_binary, read_env_file

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[2]
STANDINS = Path(__file__).resolve().parent / "standins"
PROJECT = "maga-deploy-test"
TAG = "deploy-test"
ARTIFACTS = ROOT / "var" / "test-artifacts" / "compose-up"
WHEELHOUSE_PORT = 38731
SHARDS = {f"part-{i}": 2 for i in range(4)}  # as in test_multiworker.py
REFRESH_OVERRIDES = ["refresh.chunk_docs=2", "refresh.judge_sample=0"]
HEALTHY_TIMEOUT_S = 900
# Under a load average of 25 the tool-models run took 2115 s and the refresh 585 s.
RUN_TIMEOUT_S = {"maga_tool_models": 3600, "maga_corpus_refresh": 1800}

TIMINGS: dict[str, float | str | dict] = {}


def _timed(key: str, began: float) -> None:
    TIMINGS[key] = round(time.monotonic() - began, 1)


def _free_loopback() -> str:
    """A loopback address on which the stack's published ports are all free."""
    for _ in range(50):
        addr = f"127.0.{secrets.randbelow(250) + 1}.{secrets.randbelow(250) + 2}"
        try:
            for port in (5432, 6379, 8333, 8000):
                with socket.socket() as s:
                    s.bind((addr, port))
            return addr
        except OSError:
            continue
    raise engine.EngineError("no loopback address with ports 5432, 6379, 8333 free")


def _free_port(addr: str) -> int:
    with socket.socket() as s:
        s.bind((addr, 0))
        return s.getsockname()[1]


def _write_env(path: Path, settings: dict[str, str]) -> dict[str, str]:
    """.env.example with ``settings`` applied and every change-me secret generated."""
    values = read_env_file(ENV_EXAMPLE)
    for name, value in values.items():
        if value == "change-me":
            values[name] = secrets.token_hex(16)
    values["AIRFLOW_FERNET_KEY"] = base64.urlsafe_b64encode(os.urandom(32)).decode()
    unknown = set(settings) - set(values)
    assert not unknown, f"not settings of .env.example: {unknown}"
    values.update(settings)
    path.write_text("".join(f"{k}={v}\n" for k, v in values.items()))
    path.chmod(0o600)
    return values


class Compose:
    """The real Compose v2 binary against the project's compose file."""

    def __init__(self, env: dict[str, str], env_file: Path) -> None:
        self.binary = str(_compose_binary())
        self.env = env
        self.env_file = env_file

    def cmd(
        self, *args: str, file: Path = ROOT / "docker-compose.yaml", profile: str = ""
    ) -> list[str]:
        profiles = ["--profile", profile] if profile else []
        return [self.binary, "-p", PROJECT, "--project-directory", str(file.parent),
                "-f", str(file), "--env-file", str(self.env_file), *profiles, *args]  # fmt: skip

    def __call__(self, *args: str, timeout_s: float = 600, check: bool = True, **kw) -> str:
        res = subprocess.run(
            self.cmd(*args, **kw), capture_output=True, text=True, env=self.env, timeout=timeout_s
        )
        if check and res.returncode != 0:
            raise AssertionError(f"compose {' '.join(args)} exited {res.returncode}:\n"
                                 f"{(res.stdout + res.stderr)[-4000:]}")  # fmt: skip
        return res.stdout

    def build(self, *args: str, file: Path, log: Path, timeout_s: float, profile: str = "") -> None:
        cmd = self.cmd("build", "--progress", "plain", *args, file=file, profile=profile)
        with open(log, "w") as fh:
            res = subprocess.run(
                ["nice", "-n", "10", *cmd],
                stdout=fh, stderr=subprocess.STDOUT, env=self.env, timeout=timeout_s,
            )  # fmt: skip
        if res.returncode != 0:
            tail = log.read_text(errors="replace")[-5000:]
            pytest.fail(f"build of {file.name} failed (full log {log}):\n{tail}")

    def containers(self) -> list[dict]:
        out = self("ps", "-a", "--format", "json")
        rows = [json.loads(line) for line in out.splitlines() if line.strip()]
        return [r for row in rows for r in (row if isinstance(row, list) else [row])]

    def logs(self, tail: int = 60) -> str:
        return self("logs", "--no-color", "--tail", str(tail), check=False)[-20000:]


def _wait_healthy(compose: Compose, timeout_s: float) -> None:
    """Every long-running container healthy, airflow-init exited 0; fail at once when a
    container exits (an unhealthy one may still recover: a busy host slows checks)."""
    deadline = time.monotonic() + timeout_s
    while True:
        rows = compose.containers()
        pending, broken = [], []
        for row in rows:
            name, state, health = row["Service"], row["State"], row.get("Health", "")
            if name == "airflow-init":
                if state == "exited" and row.get("ExitCode") != 0:
                    broken.append(f"{name} exited {row.get('ExitCode')}")
                elif state != "exited":
                    pending.append(name)
            elif state in {"exited", "dead"}:
                broken.append(f"{name} {state}")
            elif health != "healthy":
                pending.append(f"{name} {state}/{health or 'no health'}")
        if broken:
            pytest.fail(f"containers failed: {broken}\n{compose.logs()}")
        if rows and not pending:
            return
        if time.monotonic() > deadline:
            pytest.fail(f"not healthy after {timeout_s}s: {pending}\n{compose.logs()}")
        time.sleep(3)


class Api:
    def __init__(self, url: str, user: str, password: str) -> None:
        self.url, self.user, self.password = url, user, password
        self.token = ""

    def login(self) -> None:
        status, body = http_json("POST", self.url + "/auth/token",
                                 {"username": self.user, "password": self.password})  # fmt: skip
        assert status == 201, f"login refused ({status}): {body}"
        self.token = body["access_token"]

    def __call__(self, method: str, path: str, body=None) -> tuple[int, object]:
        return http_json(method, self.url + path, body, self.token)


def _require_engine() -> None:
    """Skip outside CI on machines that cannot run the test; in CI that fails instead."""
    missing = [b for b in ("docker", "debootstrap") if shutil.which(b) is None]
    if not missing and not engine.engine_answers():
        if shutil.which("dockerd") is None:
            missing.append("dockerd")
        elif os.geteuid() != 0:
            missing.append("root (to start dockerd)")
    msg = f"cannot run a Docker engine here: {', '.join(missing) or 'MAGA_TEST_ABSENT'} (scripts/ci-system-deps.sh)"
    require("docker", not missing, msg)


@pytest.fixture(scope="module")
def docker_env() -> Iterator[dict[str, str]]:
    """A running Docker engine (started and stopped here if needed) with the Debian base;
    the module's timings are written at its end."""
    _require_engine()
    began_all = time.monotonic()
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    try:
        engine_cm = engine.docker_engine()
        env = engine_cm.__enter__()
    except engine.EngineError as exc:
        pytest.fail(str(exc))
    try:
        env = {**env, "MAGA_STANDIN_TAG": TAG}
        TIMINGS["debian_base"] = {k: round(v, 1) for k, v in engine.debian_base(env).items()}
        yield env
        TIMINGS["disk"] = _disk(env)
    finally:
        engine_cm.__exit__(None, None, None)
        _timed("total_s", began_all)
        print("\ncompose-up test:", json.dumps(TIMINGS, indent=2))
        (ARTIFACTS / "summary.json").write_text(json.dumps(TIMINGS, indent=2) + "\n")


def _build_settings(workdir: Path) -> tuple[dict[str, str], Path]:
    """Build inputs of this machine (host network, pip's CA bundle) and an env file of them."""
    ca = engine.pip_setting("cert")
    settings = {
        "MAGA_BUILD_NETWORK": "host",
        "MAGA_BUILD_EXTRA_CA": ca if ca and Path(ca).is_file() else "",
    }
    path = workdir / "build.env"
    path.write_text("".join(f"{k}={v}\n" for k, v in settings.items()))
    return settings, path


@pytest.fixture(scope="module")
def stack(docker_env, tmp_path_factory) -> Iterator[dict]:
    env = docker_env
    workdir = tmp_path_factory.mktemp("compose-up")
    compose = None
    try:
        # --- stand-ins for the base images ------------------------------------------------
        began = time.monotonic()
        build_settings, build_env = _build_settings(workdir)
        Compose(env, build_env).build(
            file=STANDINS / "compose.yaml", log=ARTIFACTS / "build-standins.log", timeout_s=1800
        )
        _timed("build_standins_s", began)

        # --- the project's image, through the compose file's build section ---------------
        addr = _free_loopback()
        images = {
            "MAGA_POSTGRES_IMAGE": f"maga-standin/postgres:{TAG}",
            "MAGA_REDIS_IMAGE": f"maga-standin/redis:{TAG}",
            "MAGA_SEAWEEDFS_IMAGE": f"maga-standin/seaweedfs:{TAG}",
            "MAGA_AIRFLOW_BASE_IMAGE": f"maga-standin/airflow:{TAG}",
            "MAGA_AIRFLOW_IMAGE": f"maga-airflow:{TAG}",
        }
        host = {"MAGA_PUBLISH_ADDR": addr, "AIRFLOW_UI_ADDR": addr,
                "AIRFLOW_UI_PORT": str(_free_port(addr))}  # fmt: skip
        wheels = engine.pip_setting("find-links")
        wheelhouse = Path(wheels) if wheels and Path(wheels).is_dir() else None
        with contextlib.ExitStack() as served:
            find_links = (
                served.enter_context(engine.serve_wheelhouse(wheelhouse, WHEELHOUSE_PORT))
                if wheelhouse
                else ""
            )
            values = _write_env(
                workdir / ".env",
                # No cron runs: unpausing the refresh would otherwise run its latest
                # missed interval on the built-in corpus first, beside the test's run.
                {
                    **images,
                    **host,
                    **build_settings,
                    "TORCH_FIND_LINKS": find_links,
                    "AIRFLOW_USE_JOB_SCHEDULE": "false",
                },
            )
            compose = Compose(env, workdir / ".env")
            began = time.monotonic()
            compose.build(
                "airflow-init", file=ROOT / "docker-compose.yaml",
                log=ARTIFACTS / "build-airflow.log", timeout_s=2400,
            )  # fmt: skip
            _timed("build_airflow_image_s", began)

        # --- up ---------------------------------------------------------------------------
        # A run that was killed before its own `down -v` leaves containers and volumes
        # (a Postgres volume with another run's passwords): start from nothing.
        compose("down", "-v", "--remove-orphans", timeout_s=600, check=False)
        began = time.monotonic()
        compose("up", "-d", "--no-build", "--pull", "never", timeout_s=900)
        _wait_healthy(compose, HEALTHY_TIMEOUT_S)
        _timed("compose_up_to_healthy_s", began)
        api = Api(f"http://{addr}:{host['AIRFLOW_UI_PORT']}", values["AIRFLOW_ADMIN_USER"],
                  values["AIRFLOW_ADMIN_PASSWORD"])  # fmt: skip
        yield {"compose": compose, "api": api, "values": values, "addr": addr, "env": env}
    finally:
        if compose is not None:
            (ARTIFACTS / "compose-logs.txt").write_text(compose.logs(400))
            TIMINGS["disk_with_stack"] = _disk(env)
            began = time.monotonic()
            compose("down", "-v", "--remove-orphans", timeout_s=600, check=False)
            _timed("compose_down_s", began)
            left = compose("ps", "-a", "-q", check=False).split()
            assert not left, f"containers left after down -v: {left}"


def _disk(env: dict[str, str]) -> dict[str, str]:
    out = subprocess.run(["docker", "system", "df", "--format", "{{.Type}}: {{.Size}}"],
                         capture_output=True, text=True, env=env, timeout=120).stdout  # fmt: skip
    sizes = dict(line.split(": ", 1) for line in out.splitlines() if ": " in line)
    du = subprocess.run(["du", "-shx", str(engine.CACHE)], capture_output=True, text=True)
    sizes["cache_folder"] = du.stdout.split("\t")[0] if du.returncode == 0 else "?"
    return sizes


def _s3(stack: dict):
    import boto3
    from botocore.config import Config

    v = stack["values"]
    return boto3.client(
        "s3", endpoint_url=f"http://{stack['addr']}:8333", region_name=v["MAGA_S3_REGION"],
        aws_access_key_id=v["MAGA_S3_ACCESS_KEY"], aws_secret_access_key=v["MAGA_S3_SECRET_KEY"],
        config=Config(s3={"addressing_style": "path"}, request_checksum_calculation="when_required"),
    )  # fmt: skip


def _run_dag(stack: dict, dag_id: str, conf: dict,
             review: Callable[[str], bool] | None = None) -> tuple[str, list[dict]]:  # fmt: skip
    """Unpause, trigger and wait for ``dag_id``; returns (run id, task instances).
    ``review(run_id)`` is called while the run runs, until it says it is done."""
    api: Api = stack["api"]
    deadline = time.monotonic() + 300
    while api("GET", f"/api/v2/dags/{dag_id}")[0] != 200:
        assert time.monotonic() < deadline, f"DAG {dag_id} not parsed after 300 s"
        time.sleep(3)
    # An earlier DAG's Asset event must not start a run with default parameters.
    api("DELETE", f"/api/v2/dags/{dag_id}/assets/queuedEvents")
    status, body = api("PATCH", f"/api/v2/dags/{dag_id}", {"is_paused": False})
    assert status == 200 and body["is_paused"] is False, body
    run_id = f"deploytest_{uuid.uuid4().hex[:8]}"
    began = time.monotonic()
    status, body = api("POST", f"/api/v2/dags/{dag_id}/dagRuns",
                       {"dag_run_id": run_id, "logical_date": None, "conf": conf})  # fmt: skip
    assert status == 200, body
    state, path = body["state"], f"/api/v2/dags/{dag_id}/dagRuns/{run_id}"
    while state not in ("success", "failed"):
        if time.monotonic() - began > RUN_TIMEOUT_S[dag_id]:
            pytest.fail(f"{dag_id} still {state} after {RUN_TIMEOUT_S[dag_id]}s\n"
                        f"{stack['compose'].logs()}")  # fmt: skip
        if review is not None and review(run_id):
            review = None
        time.sleep(1 if review else 5)
        status, body = api("GET", path)
        if status == 401:  # the token outlived its lifetime
            api.login()
            continue
        assert status == 200, body
        state = body["state"]
    _timed(f"dag_run_{dag_id}_s", began)
    status, body = api("GET", f"{path}/taskInstances?limit=200")
    assert status == 200, body
    tis = body["task_instances"]
    if state != "success":
        states = sorted((t["task_id"], t["map_index"], t["state"]) for t in tis)
        pytest.fail(f"{dag_id} run {state}: {states}\n{stack['compose'].logs()}")
    return run_id, tis


# Builds on a fresh machine, compose up and both DAG runs, on a shared 2-core host.
@pytest.mark.timeout(6000)
def test_both_dags_run_in_containers(stack: dict) -> None:
    api: Api = stack["api"]
    compose: Compose = stack["compose"]
    v = stack["values"]
    # The API refuses what is not logged in.
    status, _ = http_json("GET", api.url + "/api/v2/dags")
    assert status == 401
    api.login()

    # 1. Tool models on the one Celery worker compose starts.
    _, tis = _run_dag(stack, "maga_tool_models", {"profile": "tiny"})
    assert {t["state"] for t in tis} <= {"success", "skipped"}, tis
    s3 = _s3(stack)
    bucket, prefix = v["MAGA_STORAGE_ROOT"][len("s3://") :].split("/", 1)
    assert bucket == v["MAGA_S3_BUCKET"]
    keys = [o["Key"] for o in s3.list_objects_v2(
        Bucket=bucket, Prefix=f"{prefix}/registry/tool_models/").get("Contents", [])]  # fmt: skip
    assert any(k.endswith("/manifest.json") for k in keys), keys

    # 2. Two workers, then the refresh on four shards uploaded to the stack's S3.
    compose("up", "-d", "--no-build", "--pull", "never", "--no-recreate",
            "--scale", "airflow-worker=2", timeout_s=600)  # fmt: skip
    _wait_healthy(compose, 600)
    workers = [c for c in compose.containers() if c["Service"] == "airflow-worker"]
    assert len(workers) == 2, workers
    hostnames = {
        subprocess.run(
            ["docker", "inspect", "--format", "{{.Config.Hostname}}", c["ID"]],
            capture_output=True,
            text=True,
            env=stack["env"],
            check=True,
        ).stdout.strip()  # fmt: skip
        for c in workers
    }
    source = f"{prefix}/deploy-test/source"
    ids = set()
    for name, n in SHARDS.items():
        records = docs(name, n)
        ids |= {r["id"] for r in records}
        s3.put_object(Bucket=bucket, Key=f"{source}/{name}.jsonl",
                      Body=shard_bytes(records, "jsonl"))  # fmt: skip
    # A person reviews before publish (review=always), answered through the REST API:
    # a rejection without comment first (the review opens again), then Publish all. On
    # Airflow 3.3 the scheduler parks the waiting task; the stack's triggerer must run all
    # the same (deferrable tasks), as compose declares it.
    services = {c["Service"]: c for c in compose.containers()}
    assert services["airflow-triggerer"]["State"] == "running", services["airflow-triggerer"]
    conf = {"profile": "tiny", "source": f"s3://{bucket}/{source}", "review": "always",
            "overrides": REFRESH_OVERRIDES}  # fmt: skip
    review = Review(api, len(SHARDS))
    run_id, tis = _run_dag(stack, "maga_corpus_refresh", conf, review)
    detail = review.finish(run_id, tis)
    TIMINGS["review"] = review.timings

    shard_tis = [t for t in tis if t["task_id"].startswith("shard.")]
    assert len(shard_tis) == 4 * len(SHARDS), sorted(t["task_id"] for t in tis)
    per_host = Counter(t["hostname"] for t in shard_tis)
    TIMINGS["shard_tasks_per_worker"] = dict(per_host)
    TIMINGS["task_seconds"] = {f"{t['task_id']}[{t['map_index']}]": round(t["duration"] or 0, 1)
                               for t in tis}  # fmt: skip
    status, body = api("GET", "/api/v2/dags/maga_corpus_refresh/dagRuns?limit=20")
    assert status == 200, body
    runs = [[r["dag_run_id"], r["run_type"], r["state"], r["start_date"], r["end_date"]]
            for r in body["dag_runs"]]  # fmt: skip
    TIMINGS["refresh_runs"] = runs
    assert set(per_host) == hostnames, f"shard tasks ran on {dict(per_host)}, workers {hostnames}"

    # 3. The outputs, read back from the stack's S3 service.
    out = f"{prefix}/corpus/maga"
    manifest = json.loads(s3.get_object(Bucket=bucket, Key=f"{out}/manifest.json")["Body"].read())
    ours = {f"s3://{bucket}/{source}/{n}.jsonl" for n in SHARDS}
    assert ours <= set(manifest["shards"]), sorted(manifest["shards"])
    # No cron run (AIRFLOW_USE_JOB_SCHEDULE=false) and no Asset-triggered run (its queued
    # event was dropped before unpausing): the test's run is the only one, its shards
    # the only ones published.
    assert [r[0] for r in runs] == [run_id], runs
    assert set(manifest["shards"]) == ours, sorted(manifest["shards"])
    produced, rejected = set(), set()
    for uri, entry in ((u, manifest["shards"][u]) for u in sorted(ours)):
        assert entry["status"] == "published" and entry["run_id"] == run_id, (uri, entry)
        assert entry["review"]["reviewer"] == detail["responded_by_user"]["name"] == v[
            "AIRFLOW_ADMIN_USER"], entry  # fmt: skip
        key = entry["output"][len(f"s3://{bucket}/") :]
        rows = pq.read_table(io.BytesIO(s3.get_object(Bucket=bucket, Key=key)["Body"].read()))
        rows = rows.to_pylist()
        assert rows and len(rows) == entry["rows"], (uri, len(rows), entry["rows"])
        produced |= {r["source_id"] for r in rows}
        rkey = entry["rejects"][len(f"s3://{bucket}/") :]
        rej = pq.read_table(io.BytesIO(s3.get_object(Bucket=bucket, Key=rkey)["Body"].read()))
        rejected |= {r["source_id"] for r in rej.to_pylist() if r["rewrite_id"] is None}
    assert ids <= produced | rejected, ids - produced - rejected


@pytest.mark.timeout(1200)
def test_gpu_images_on_a_python_only_base(docker_env, tmp_path) -> None:
    """What can be checked of the GPU images without vllm/vllm-openai and a GPU.

    A stand-in without vLLM or CUDA (tests/deploy/standins/vllm-base.Dockerfile) takes
    the base's name in this engine for the duration of the test. Then:
    - teacher.Dockerfile builds through the compose file (context allow-list, user
      50000:0, entrypoint), the image runs as UID 50000, and its entrypoint turns the
      MAGA_TEACHER_* settings into `vllm serve` flags (the stand-in's `vllm` prints its
      arguments) or stops naming a missing setting;
    - gpu-worker.Dockerfile builds up to its guard on the base's vLLM version and stops
      there, as it must on a base that is not vLLM 0.24.0.
    Not checked: vLLM, CUDA, the GPU worker's Python packages, any GPU.
    """
    env = docker_env
    dockerfiles = [ROOT / "docker" / n for n in ("teacher.Dockerfile", "gpu-worker.Dockerfile")]
    bases = {re.search(r"^FROM (\S+)", f.read_text(), flags=re.M).group(1) for f in dockerfiles}
    assert len(bases) == 1, bases
    base = bases.pop()
    if engine.image_exists(base, env):
        pytest.skip(f"{base} is in this engine: build the GPU images for real instead")
    settings, build_env = _build_settings(tmp_path)
    began = time.monotonic()
    Compose(env, build_env).build(
        "vllm-base", file=STANDINS / "compose.yaml", log=ARTIFACTS / "build-vllm-base.log",
        timeout_s=900, profile="gpu",
    )  # fmt: skip
    docker = ["docker"]
    subprocess.run([*docker, "tag", f"maga-standin/vllm-base:{TAG}", base], env=env, check=True)
    try:
        values = _write_env(
            tmp_path / ".env",
            {**settings, "MAGA_TEACHER_IMAGE": f"maga-teacher:{TAG}",
             "MAGA_GPU_WORKER_IMAGE": f"maga-gpu-worker:{TAG}"},
        )  # fmt: skip
        compose = Compose(env, tmp_path / ".env")
        compose.build("teacher", file=ROOT / "docker-compose.yaml",
                      log=ARTIFACTS / "build-teacher.log", timeout_s=600,
                      profile="teacher-server")  # fmt: skip
        image = values["MAGA_TEACHER_IMAGE"]

        def run(*args: str) -> subprocess.CompletedProcess:
            return subprocess.run([*docker, "run", "--rm", *args], capture_output=True,
                                  text=True, env=env, timeout=120)  # fmt: skip

        who = run("--entrypoint", "id", image)
        assert who.returncode == 0 and who.stdout.startswith("uid=50000"), who
        res = run("-e", "MAGA_TEACHER_MODEL=Qwen/Qwen3-8B", "-e", "MAGA_TEACHER_API_KEY=k3y",
                  "-e", "MAGA_TEACHER_MAX_MODEL_LEN=4096", image, "--enable-prefix-caching")  # fmt: skip
        assert res.returncode == 0, res.stderr
        argv = res.stdout.splitlines()
        assert argv[:2] == ["serve", "Qwen/Qwen3-8B"], argv
        flags = dict(zip(argv[2:-1:2], argv[3:-1:2], strict=False))
        assert flags["--api-key"] == "k3y" and flags["--max-model-len"] == "4096", argv
        share = read_env_file(ENV_EXAMPLE)["MAGA_TEACHER_GPU_MEMORY_UTILIZATION"]
        assert flags["--port"] == "8000", argv
        assert flags["--gpu-memory-utilization"] == share, (argv, share)  # the stated share
        assert argv[-1] == "--enable-prefix-caching", argv
        res = run("-e", "MAGA_TEACHER_MODEL=Qwen/Qwen3-8B", image)
        assert res.returncode != 0 and "MAGA_TEACHER_API_KEY" in res.stderr, res

        # The guard's RUN first filters `pip list` (setuptools always matches on the
        # stand-in), then requires vllm==0.24.0, which the stand-in lacks: so the step
        # can only fail at the guard.
        listed = run("--entrypoint", "python3", f"maga-standin/vllm-base:{TAG}",
                     "-m", "pip", "list", "--format=freeze").stdout.splitlines()  # fmt: skip
        assert any(x.startswith("setuptools==") for x in listed), listed
        assert not any(x.lower().startswith("vllm==") for x in listed), listed
        log = ARTIFACTS / "build-gpu-worker.log"
        with pytest.raises(pytest.fail.Exception, match=r"build of docker-compose.yaml failed"):
            compose.build("gpu-worker", file=ROOT / "docker-compose.yaml", log=log,
                          timeout_s=900, profile="gpu")  # fmt: skip
        text = log.read_text(errors="replace")
        failed = [line for line in text.splitlines() if re.match(r"#\d+ ERROR", line)]
        assert failed and "grep -qE '^vllm==0\\.24\\.0" in failed[0], failed or text[-3000:]
        step = re.search(r"^(#\d+) \[[^\]]*\] RUN useradd --uid 50000", text, flags=re.M)
        done = {f"{step.group(1)} DONE", f"{step.group(1)} CACHED"} if step else set()
        assert any(d in text for d in done), text[-3000:]
    finally:
        subprocess.run([*docker, "rmi", base], env=env, capture_output=True)
        _timed("gpu_images_check_s", began)
