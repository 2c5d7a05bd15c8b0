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
