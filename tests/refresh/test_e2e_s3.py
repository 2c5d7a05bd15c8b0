"""End to end on a real S3 server (SeaweedFS) with real vLLM engines on the tiny profile:
source corpus, tool models, runs and output all on S3.

One module, run in order: the first run processes every shard; the second none; adding
a shard and changing another processes exactly those two; a process killed in the middle
of a shard (SIGKILL after three chunks) and rerun writes byte-identical output with no
duplicates. Every input id ends up in the output or among the rejects with a reason.
Engine starts are kept to four: each in-process run shares one engine process across
its shards, both SLMs and the judge are the same tiny model, and a run with nothing to
do starts none.
"""

from __future__ import annotations

import io
import os
import signal
import subprocess
import sys
import uuid
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from maga.config import load_config
from maga.llm.jobs import EngineSession
from maga.models.builtin import resolve_model
from maga.refresh.pipeline import DAG_ID, run_all
from maga.runs.context import RunContext
from maga.storage import Storage, join_uri
from tests.refresh.helpers import docs, make_registry, shard_bytes
from tests.test_storage import use_s3_env

pytestmark = pytest.mark.slow
ROOT = Path(__file__).resolve().parents[2]
OVERRIDES = ["refresh.chunk_docs=2", "refresh.judge=reformulation_slm", "refresh.judge_sample=3"]


class World:
    def __init__(self, root: str, storage: Storage) -> None:
        self.root, self.storage = root, storage
        self.source = join_uri(root, "source")
        self.output = join_uri(root, "corpus", "maga")

    def overrides(self, *extra: str) -> list[str]:
        return [
            f"storage.root={self.root}",
            f"refresh.source_uri={self.source}",
            *OVERRIDES,
            *extra,
        ]

    def shard(self, name: str, records: list, fmt: str) -> str:
        uri = join_uri(self.source, f"{name}.{fmt}")
        self.storage.write_bytes(uri, shard_bytes(records, fmt))
        return uri

    def run(self, run_id: str, *extra: str) -> tuple[RunContext, EngineSession]:
        ctx = RunContext.create(load_config("tiny", self.overrides(*extra)), DAG_ID, run_id)
        session = EngineSession()
        try:
            run_all(ctx, session)
        finally:
            session.close()
        return ctx, session

    def report(self, ctx: RunContext) -> dict:
        return self.storage.read_json(ctx.uri("report.json"))

    def manifest(self, output: str | None = None) -> dict:
        return self.storage.read_json(join_uri(output or self.output, "manifest.json"))

    def data(self, key: str, output: str | None = None) -> bytes:
        return self.storage.read_bytes(join_uri(output or self.output, "data", f"{key}.parquet"))

    def table(self, uri: str) -> list[dict]:
        return pq.read_table(io.BytesIO(self.storage.read_bytes(uri))).to_pylist()


@pytest.fixture(scope="module")
def world(s3_server, tmp_path_factory):
    with pytest.MonkeyPatch.context() as mp:
        use_s3_env(mp, s3_server)
        mp.setenv("MAGA_MODEL_CACHE", str(tmp_path_factory.mktemp("model-cache")))
        storage = Storage()
        w = World(f"s3://{s3_server.bucket}/{uuid.uuid4().hex}", storage)
        # The tool models live on S3 like in production; refresh downloads them once.
        models = join_uri(w.root, "models", "tiny")
        storage.upload_dir(resolve_model("builtin:tiny-random"), models)
        make_registry(storage, w.root, models)
        w.uris = {
            "a": w.shard("a", docs("a", 4) + ["{truncated json"], "jsonl"),
            "b": w.shard("b", docs("b", 4) + [{"id": "b-0", "text": "same id again"}], "jsonl.gz"),
            "c": w.shard("c", docs("c", 3), "parquet"),
        }
        yield w


def _accounted(w: World, output: str, expected_ids: set[str]) -> None:
    manifest = w.manifest(output)
    produced, rejected = set(), set()
    for entry in manifest["shards"].values():
        if entry["output"]:
            rows = w.table(entry["output"])
            assert len({r["id"] for r in rows}) == len(rows), "duplicate rows"
            produced |= {r["source_id"] for r in rows}
        for r in w.table(entry["rejects"]):
            assert r["reason"] and r["stage"] in {"input", "generation", "clean", "shard"}
            if r["rewrite_id"] is None:
                rejected.add(r["source_id"])
    assert expected_ids <= produced | rejected, expected_ids - produced - rejected


def test_first_run_processes_every_shard(world):
    ctx, session = world.run("r1")
    report = world.report(ctx)
    assert sorted(report["selected"]) == sorted(world.uris.values())
    assert [s["outcome"] for s in report["shards"]] == ["ok"] * 3, report["shards"]
    assert session.engine_starts == 1
    manifest = world.manifest()
    assert set(manifest["shards"]) == set(world.uris.values())
    world.keys = {n: manifest["shards"][u]["key"] for n, u in world.uris.items()}
    world.first = {n: world.data(k) for n, k in world.keys.items()}
    ids = {d["id"] for d in docs("a", 4) + docs("b", 4) + docs("c", 3)}
    _accounted(world, world.output, ids)
    quarantined = {
        r["reason"]
        for k in world.keys.values()
        for r in world.table(join_uri(world.output, "rejects", f"{k}.parquet"))
        if r["stage"] == "input"
    }
    assert quarantined == {"malformed_json", "duplicate_id"}
    rows = world.table(join_uri(world.output, "data", f"{world.keys['c']}.parquet"))
    assert {r["prompt_variant"] for r in rows} == {"base"}
    assert {r["tool_model_version"] for r in rows} == {1}
    assert all(r["genre"] and r["audience"] and r["source_id"] for r in rows)
    totals = report["totals"]
    assert totals["completion_tokens"] > 0 and totals["judged"] > 0
    # the expansion the gate passed is the published text over the text reformulated
    published = [r for k in world.keys.values()
                 for r in world.table(join_uri(world.output, "data", f"{k}.parquet"))]  # fmt: skip
    assert sum(len(r["text"]) for r in published) == totals["output_chars"] > 0
    assert 0 < totals["reformulated_chars"] <= totals["input_chars"]
    expansion = totals["output_chars"] / totals["reformulated_chars"]
    assert expansion >= ctx.config.refresh.gates.min_expansion_ratio
    gates = world.storage.read_json(ctx.uri("summary.json"))["gates"]
    checks = {c["name"]: c for c in gates["refresh_aggregate"]["checks"]}
    assert checks["expansion_ratio"]["observed"] == pytest.approx(expansion, abs=1e-5)
    assert gates["refresh_aggregate"]["passed"]
    card = world.storage.read_text(join_uri(world.output, "README.md"))
    assert "configs:" in card and f"| rewrites kept | {totals['kept']} |" in card
    summary = world.storage.read_json(ctx.uri("summary.json"))
    assert summary["gates"]["refresh_aggregate"]["passed"]
    assert not world.storage.list(join_uri(world.output, "_staging"))


def test_second_run_processes_nothing(world):
    ctx, session = world.run("r2")
    assert world.report(ctx)["selected"] == []
    assert session.engine_starts == 0
    assert {n: world.data(k) for n, k in world.keys.items()} == world.first


def test_added_and_changed_shards_are_the_only_ones_processed(world):
    world.uris["d"] = world.shard("d", docs("d", 2), "jsonl")
    world.shard("b", docs("b", 3, start=20), "jsonl.gz")  # new content, same URI
    ctx, session = world.run("r3")
    report = world.report(ctx)
    assert {s["uri"]: s["change"] for s in report["shards"]} == {
        world.uris["b"]: "changed",
        world.uris["d"]: "new",
    }
    assert report["unchanged"] == 2 and session.engine_starts == 1
    b_rows = world.table(join_uri(world.output, "data", f"{world.keys['b']}.parquet"))
    assert {r["source_id"] for r in b_rows} <= {f"b-{i}" for i in range(20, 23)}
    for name in ("a", "c"):
        assert world.data(world.keys[name]) == world.first[name]
    ids = {d["id"] for d in docs("a", 4) + docs("b", 3, start=20) + docs("c", 3) + docs("d", 2)}
    _accounted(world, world.output, ids)


def test_killed_mid_shard_then_rerun_is_byte_identical(world, tmp_path):
    """Shard a again, into a second output location, in a process SIGKILLed after its
    third chunk (both GA chunks and the first rewrite chunk); the rerun of the same run
    resumes from the staged chunks. The output path depends on the shard alone, so the
    file must equal the first run's byte for byte."""
    second = join_uri(world.root, "corpus", "crashcheck")
    extra = (f"refresh.output_uri={second}", "refresh.shard_limit=1")
    cmd = [
        sys.executable,
        "-m",
        "maga.cli",
        "run",
        "corpus-refresh",
        "--config",
        "tiny",
        "--run-id",
        "r4",
    ]
    for item in world.overrides(*extra):
        cmd += ["--set", item]
    env = dict(os.environ, MAGA_TEST_CRASH_AFTER_CHUNKS="3")
    log = tmp_path / "killed.log"
    with log.open("w") as fh:
        proc = subprocess.run(
            cmd, env=env, cwd=ROOT, stdout=fh, stderr=subprocess.STDOUT, timeout=900
        )
    assert proc.returncode == -signal.SIGKILL, log.read_text()[-3000:]
    staged = [
        o.uri.rsplit("/", 2)[-2:]
        for o in world.storage.list(join_uri(second, "_staging", world.keys["a"]))
    ]
    chunks = sorted("/".join(p) for p in staged if p[0] in ("ga", "gen"))
    assert chunks == ["ga/chunk-00000.json", "ga/chunk-00001.json", "gen/chunk-00000.json"]
    assert not world.storage.exists(join_uri(second, "data", f"{world.keys['a']}.parquet"))

    ctx, session = world.run("r4", *extra)  # the retry
    report = world.report(ctx)
    assert report["selected"] == [world.uris["a"]]
    assert report["shards"][0]["outcome"] == "ok"
    assert world.data(world.keys["a"], second) == world.first["a"]
    rows = world.table(join_uri(second, "data", f"{world.keys['a']}.parquet"))
    assert len(rows) == len({r["id"] for r in rows}) > 0
    _accounted(world, second, {d["id"] for d in docs("a", 4)})
