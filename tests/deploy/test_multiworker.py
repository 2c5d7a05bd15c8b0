"""The production deployment, proven on a real multi-worker run.

Starts PostgreSQL and Redis (Debian packages), a real S3 server (SeaweedFS), and Airflow
3 as separate processes with the CeleryExecutor, the FAB auth manager and two Celery
workers, ``worker-a`` and ``worker-b`` (concurrency 1 each, each with its own model
cache: they share nothing but the broker, the database and S3). Then, through the REST
API with a login, it unpauses and triggers ``maga_corpus_refresh`` (tiny profile, real
vLLM engines) on four source shards on S3, and checks that

- a request without a valid token is refused;
- the run succeeds, and the mapped shard tasks ran on both workers (the task
  instances' ``hostname``), while the tasks that load a model ran only on ``worker-b``,
  the one worker serving the model queue (``MAGA_MODEL_QUEUE``), as GPU workers serve
  ``gpu``;
- every shard is published in the output manifest on S3, its Parquet file is there
  with as many rows as the manifest says, and every input document is either in the
  output or among the rejects.

Everything started is stopped by PID at the end, also when the test fails; a failure
prints the tail of every component's log. Skipped only outside CI when PostgreSQL or
Redis is not installed (``scripts/ci-system-deps.sh`` installs them); in CI
(``CI`` or ``MAGA_REQUIRE_SERVICES`` set) that fails instead.
"""

from __future__ import annotations

import io
import json
import os
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from maga.models.builtin import resolve_model
from maga.storage import Storage, join_uri
from tests.conftest import require
from tests.deploy.stack import Stack, StackError, missing_binaries, postgres_bindir, redis_binary
from tests.refresh.helpers import docs, make_registry, shard_bytes
from tests.test_storage import use_s3_env

pytestmark = [pytest.mark.slow, pytest.mark.timeout(1800)]  # stack start + a 900 s run

DAG_ID = "maga_corpus_refresh"
WORKERS = ["worker-a", "worker-b"]
# Four shards of two documents: one GA and one rewrite chunk each (chunk_docs=2). Judging
# is off (tests/refresh/test_e2e_s3.py covers it on S3): each shard then starts one vLLM
# engine, in reformulate_shard, and the run stays near five minutes on 2 CPU cores.
SHARDS = {f"part-{i}": 2 for i in range(4)}  # shard name -> documents
SHARD_STEPS = ("gate_shard", "reformulate_shard", "clean_shard", "validate_shard")
MODEL_STEPS = ("reformulate_shard", "validate_shard")  # load a model: the model queue
MODEL_QUEUE, MODEL_WORKER = "models", "worker-b"
# runner.keep_engines=2, as the demo profile's tasks run: each reformulate_shard task runs
# in its own engine pool. Both SLM roles are the one tiny model here, so one engine serves
# both and the task starts it once.
OVERRIDES = ["refresh.chunk_docs=2", "refresh.judge_sample=0", "runner.keep_engines=2"]
RUN_TIMEOUT_S = 900
ARTIFACTS = Path(__file__).resolve().parents[2] / "var" / "test-artifacts" / "multiworker"


def _require_services() -> None:
    missing = missing_binaries()
    msg = (
        f"not installed: {', '.join(missing) or 'MAGA_TEST_ABSENT'} (run scripts/ci-system-deps.sh)"
    )
    require("postgresql", postgres_bindir() is not None, msg)
    require("redis", redis_binary() is not None, msg)


@pytest.fixture(scope="module")
def services() -> None:
    """PostgreSQL and Redis checked first: before the S3 fixture could skip the module."""
    _require_services()


@pytest.fixture(scope="module")
def s3_world(services, s3_server, tmp_path_factory):
    """Source shards, the tiny tool model and its registry entry on S3."""
    with pytest.MonkeyPatch.context() as mp:
        use_s3_env(mp, s3_server)
        mp.setenv("MAGA_MODEL_CACHE", str(tmp_path_factory.mktemp("model-cache")))
        storage = Storage()
        root = f"s3://{s3_server.bucket}/multiworker-{uuid.uuid4().hex[:8]}"
        models = join_uri(root, "models", "tiny")
        storage.upload_dir(resolve_model("builtin:tiny-random"), models)
        make_registry(storage, root, models)
        source = join_uri(root, "source")
        ids = set()
        for name, n in SHARDS.items():
            records = docs(name, n)
            ids |= {r["id"] for r in records}
            storage.write_bytes(join_uri(source, f"{name}.jsonl"), shard_bytes(records, "jsonl"))
        yield {"root": root, "source": source, "ids": ids, "storage": storage,
               "output": join_uri(root, "corpus", "maga")}  # fmt: skip


@pytest.fixture(scope="module")
def stack(services, s3_server, s3_world, tmp_path_factory) -> Iterator[Stack]:
    workdir = tmp_path_factory.mktemp("multiworker")
    conn = {
        "conn_type": "aws",
        "login": s3_server.access_key,
        "password": s3_server.secret_key,
        "extra": {"endpoint_url": s3_server.endpoint_url, "region_name": s3_server.region},
    }
    extra = {
        # The pipeline finds S3 through the Airflow connection, as in docker-compose.yaml.
        "AIRFLOW_CONN_MAGA_S3": json.dumps(conn),
        "MAGA_STORAGE_ROOT": s3_world["root"],
        "MAGA_PROFILE": "tiny",
        # Model tasks go to their own queue, which only worker-b serves (as a GPU worker
        # would serve `gpu`): routing is shown on a real run, not only on the DAG.
        "MAGA_MODEL_QUEUE": MODEL_QUEUE,
        "VLLM_CPU_KVCACHE_SPACE": "1",
        # Only runs triggered through the API: no cron run of the tiny profile's schedule.
        "AIRFLOW__SCHEDULER__USE_JOB_SCHEDULE": "False",
    }
    st = Stack(workdir)
    began = time.monotonic()
    try:
        st.start_airflow(
            extra,
            WORKERS,
            lambda name: {"MAGA_MODEL_CACHE": str(workdir / f"models-{name}")},
            lambda name: f"default,{MODEL_QUEUE}" if name == MODEL_WORKER else "default",
        )
        st.started_in_s = time.monotonic() - began
        yield st
    except StackError as exc:
        pytest.fail(str(exc))
    finally:
        st.stop()
        leftover = [p.name for p in st.procs if p.alive()]
        assert not leftover, f"still running after stop: {leftover}"


def _wait_for_dag(st: Stack, token: str) -> None:
    st.wait_for(f"DAG {DAG_ID} parsed",
                lambda: st.api("GET", f"/api/v2/dags/{DAG_ID}", token=token)[0] == 200, 300,
                list(st.procs))  # fmt: skip


def _fail(st: Stack, message: str) -> None:
    pytest.fail(f"{message}\n{st.log_tails(60)}")


def test_unauthenticated_trigger_is_refused(stack: Stack) -> None:
    url = f"/api/v2/dags/{DAG_ID}/dagRuns"
    body = {"logical_date": None, "conf": {"profile": "tiny"}}
    status, _ = stack.api("POST", url, body)
    assert status == 401
    status, _ = stack.api("POST", url, body, token="not-a-valid-jwt")
    assert status in (401, 403)
    status, _ = stack.api("POST", "/auth/token", {"username": "admin", "password": "wrong"})
    assert status == 401


def test_refresh_runs_on_both_workers_and_publishes_to_s3(stack: Stack, s3_world) -> None:
    token = stack.token()
    _wait_for_dag(stack, token)
    status, body = stack.api("GET", f"/api/v2/dags/{DAG_ID}/dagRuns", token=token)
    assert status == 200 and body["total_entries"] == 0, body  # the refused triggers made none
    status, body = stack.api("PATCH", f"/api/v2/dags/{DAG_ID}", {"is_paused": False}, token)
    assert status == 200 and body["is_paused"] is False, body
    run_id = f"multiworker_{uuid.uuid4().hex[:8]}"
    conf = {"profile": "tiny", "source": s3_world["source"], "overrides": OVERRIDES}
    began = time.monotonic()
    status, body = stack.api(
        "POST",
        f"/api/v2/dags/{DAG_ID}/dagRuns",
        {"dag_run_id": run_id, "logical_date": None, "conf": conf},
        token,
    )
    assert status == 200, body
    run_path = f"/api/v2/dags/{DAG_ID}/dagRuns/{run_id}"
    state = body["state"]
    while state not in ("success", "failed"):
        if time.monotonic() - began > RUN_TIMEOUT_S:
            _fail(stack, f"run still {state} after {RUN_TIMEOUT_S}s")
        dead = [p.name for p in stack.procs if not p.alive()]
        if dead:
            _fail(stack, f"components exited during the run: {dead}")
        time.sleep(3)
        status, body = stack.api("GET", run_path, token=token)
        assert status == 200, body
        state = body["state"]
    run_s = time.monotonic() - began

    status, body = stack.api("GET", f"{run_path}/taskInstances?limit=100", token=token)
    assert status == 200, body
    tis = body["task_instances"]
    states = {(t["task_id"], t["map_index"]): t["state"] for t in tis}
    if state != "success":
        _fail(stack, f"run {state}: {json.dumps(sorted(states.items()), default=str)}")
    shard_tis = [t for t in tis if t["task_id"].startswith("shard.")]
    assert len(shard_tis) == len(SHARDS) * len(SHARD_STEPS), sorted(states)
    assert {t["state"] for t in shard_tis} == {"success"}, states
    hosts = Counter(t["hostname"] for t in shard_tis)
    order = {f"shard.{step}": i for i, step in enumerate(SHARD_STEPS)}
    split = {
        f"{t['task_id']}[{t['map_index']}]": [t["hostname"], round(t["duration"] or 0, 1)]
        for t in sorted(shard_tis, key=lambda t: (t["map_index"], order[t["task_id"]]))
    }
    _record(stack, run_id, run_s, tis, split)
    assert set(hosts) == set(WORKERS), f"shard tasks ran on {dict(hosts)}: {split}"
    model_tis = [t for t in shard_tis if t["task_id"].split(".")[-1] in MODEL_STEPS]
    assert {t["queue"] for t in model_tis} == {MODEL_QUEUE}, split
    assert {t["hostname"] for t in model_tis} == {MODEL_WORKER}, f"model tasks: {split}"

    _check_outputs(s3_world, stack, run_id, token)
    _check_engine_threads(s3_world, run_id)


def _check_engine_threads(world: dict, run_id: str) -> None:
    """Under Celery, too, each shard step's engines used every core the worker has
    (vLLM's OpenMP binding inside a task process), and the engine its pool started is
    counted as the step's in its stats: one for the whole run, since both roles are the
    one tiny model and the engine host keeps it across tasks."""
    storage: Storage = world["storage"]
    shards = join_uri(world["root"], "runs", DAG_ID, run_id, "shards")
    steps = storage.list(shards, (".json",))
    stats = [storage.read_json(o.uri)["stats"] for o in steps
             if o.uri.endswith("/reformulate.json")]  # fmt: skip
    assert len(stats) == len(SHARDS), [o.uri for o in steps]
    assert {s.get("engine_threads") for s in stats} == {os.cpu_count()}, stats[0]
    # One engine in all: the engine host on the model worker keeps the one a shard's
    # step started for the next shard's (maga.llm.host).
    assert sum(s.get("engine_starts") or 0 for s in stats) == 1, stats


def _check_outputs(world: dict, stack: Stack, run_id: str, token: str) -> None:
    """Every source shard published, its Parquet file on S3 with the manifest's row
    count, every input id in the output or among the rejects."""
    storage: Storage = world["storage"]
    manifest = storage.read_json(join_uri(world["output"], "manifest.json"))
    sources = {join_uri(world["source"], f"{n}.jsonl") for n in SHARDS}
    assert set(manifest["shards"]) == sources
    produced, rejected, total = set(), set(), 0
    for uri, entry in manifest["shards"].items():
        assert entry["status"] == "published" and entry["run_id"] == run_id, (uri, entry)
        rows = pq.read_table(io.BytesIO(storage.read_bytes(entry["output"]))).to_pylist()
        assert rows and len(rows) == entry["rows"], (uri, len(rows), entry["rows"])
        assert len({r["id"] for r in rows}) == len(rows), f"duplicate rows in {uri}"
        produced |= {r["source_id"] for r in rows}
        total += len(rows)
        for r in pq.read_table(io.BytesIO(storage.read_bytes(entry["rejects"]))).to_pylist():
            if r["rewrite_id"] is None:
                rejected.add(r["source_id"])
    assert world["ids"] <= produced | rejected, world["ids"] - produced - rejected
    assert not storage.list(join_uri(world["output"], "_staging"))
    # The publish task's own count, read back through the API (its XCom).
    path = (f"/api/v2/dags/{DAG_ID}/dagRuns/{run_id}/taskInstances/publish/xcomEntries/"
            "return_value")  # fmt: skip
    status, body = stack.api("GET", path, token=token)
    assert status == 200, body
    value = body["value"] if isinstance(body["value"], dict) else json.loads(body["value"])
    assert value["rows_published"] == total, value


def _record(stack: Stack, run_id: str, run_s: float, tis: list[dict], split: dict) -> None:
    """Print how long it took and how the shards split, and keep it as JSON."""
    per_worker = Counter(t["hostname"] for t in tis if t["task_id"].startswith("shard."))
    other = {
        t["task_id"]: [t["hostname"], round(t["duration"] or 0, 1)]
        for t in tis
        if not t["task_id"].startswith("shard.")
    }
    summary = {"run_id": run_id, "stack_start_s": round(stack.started_in_s, 1),
               "dag_run_s": round(run_s, 1), "shard_tasks_per_worker": dict(per_worker),
               "tasks_note": "task: [hostname, seconds]", "shard_tasks": split,
               "other_tasks": other}  # fmt: skip
    print("\nmulti-worker run:", json.dumps(summary, indent=2))
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    (ARTIFACTS / "summary.json").write_text(json.dumps(summary, indent=2) + "\n")
