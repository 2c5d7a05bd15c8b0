"""No secret in anything a run leaves behind: a corpus refresh on S3 (real SeaweedFS,
signed requests) judged by a teacher served over HTTP with an API key, then its
data-quality report and Data Docs; every log line, summary, report, card, manifest and
Data Docs page is searched for the S3 keys and the API key."""

from __future__ import annotations

import logging

import pytest

from maga.refresh.pipeline import DAG_ID, RefreshIncomplete, run_all
from maga.runs.context import RunContext
from maga.storage import Storage, join_uri
from tests.llm.servers import ScriptedServer, chat_reply
from tests.refresh.helpers import FakeSession, docs, make_registry, refresh_config, shard_bytes
from tests.test_storage import use_s3_env

API_KEY = "sk-live-teacher-9f8e7d6c5b4a"
TEXT_SUFFIXES = (".json", ".jsonl", ".md", ".html", ".txt", ".yaml", ".yml", ".csv", ".log")


@pytest.mark.slow
@pytest.mark.timeout(900)
def test_no_secret_in_logs_summaries_reports_cards_or_data_docs(
    s3_server, monkeypatch, caplog, capfd, tmp_path
):
    from maga.report import build_report

    use_s3_env(monkeypatch, s3_server)
    monkeypatch.setenv("MAGA_TEACHER_API_KEY", API_KEY)
    caplog.set_level(logging.INFO)  # what a task log holds (botocore's DEBUG would
    # print the access key id in its Authorization header: never enable it in production)
    storage = Storage()
    root = f"s3://{s3_server.bucket}/secrets"
    make_registry(storage, root, str(tmp_path / "no-model-needed"))
    source, output = join_uri(root, "src"), join_uri(root, "out")
    storage.write_bytes(join_uri(source, "a.jsonl"), shard_bytes(docs("a", 3), "jsonl"))
    storage.write_bytes(join_uri(source, "bad.jsonl"), b"{not json\n\xff\n")  # a failed shard
    judge = '{"score": 4, "reason": "ok"}'
    with ScriptedServer(lambda _r, _n: chat_reply(judge)) as teacher:
        cfg = refresh_config(
            root, source, output, "refresh.chunk_docs=2", "refresh.judge=teacher",
            "teacher.backend=openai", f"teacher.http.base_url={teacher.base_url}",
            "teacher.http.conn_id=none-such", "refresh.mix.tokenizer=builtin:tiny-random",
        )  # fmt: skip
        ctx = RunContext.create(cfg, DAG_ID, "secrets")
        with pytest.raises(RefreshIncomplete):
            run_all(ctx, FakeSession())
        assert teacher.received, "the teacher judged"
        assert {r.headers.get("authorization") for r in teacher.received} == {f"Bearer {API_KEY}"}
    build_report(ctx.run_uri, with_embeddings=False)
    secrets = {"S3 secret key": s3_server.secret_key, "S3 access key": s3_server.access_key,
               "teacher API key": API_KEY}  # fmt: skip
    searched = []
    for obj in storage.list(root):
        if obj.uri.endswith(TEXT_SUFFIXES) or obj.uri.endswith("README.md"):
            text = storage.read_bytes(obj.uri).decode("utf-8", errors="replace")
            searched.append(obj.uri)
            for name, value in secrets.items():
                assert value not in text, f"{name} in {obj.uri}"
    kinds = {u.rsplit("/", 1)[-1] for u in searched}
    assert {"summary.json", "report.json", "report.md", "report.html", "manifest.json",
            "README.md", "audit.json", "config.json"} <= kinds, kinds  # fmt: skip
    assert any("/data_docs/" in u and u.endswith(".html") for u in searched)
    out, err = capfd.readouterr()
    logs = "\n".join(r.getMessage() for r in caplog.records) + out + err
    assert "judge" in logs and len(caplog.records) > 50
    for name, value in secrets.items():
        assert value not in logs, f"{name} in the logs"
