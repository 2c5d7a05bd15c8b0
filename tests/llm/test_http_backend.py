"""OpenAIHTTPBackend and resolve_endpoint against a real local HTTP server (no mocks)."""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Iterator

import pytest

from maga.config import HTTPBackendConfig
from maga.llm.base import Constraint, GenRequest
from maga.llm.connection import Endpoint, resolve_endpoint
from maga.llm.http_backend import OpenAIHTTPBackend

from .servers import Received, Reply, ScriptedServer, chat_reply

SECRET = "sk-test-Zq9vX2"
KEY_ENV = "MAGA_TEST_TEACHER_KEY"


@pytest.fixture
def server() -> Iterator[ScriptedServer]:
    with ScriptedServer() as srv:
        yield srv


def backend_for(server: ScriptedServer, api_key: str | None = None, **kw) -> OpenAIHTTPBackend:
    kw.setdefault("backoff_s", 0.0)
    kw.setdefault("timeout_s", 10.0)
    return OpenAIHTTPBackend(Endpoint(server.base_url, api_key), model="test-model", **kw)


def req(key: str = "r", **kw) -> GenRequest:
    kw.setdefault("max_tokens", 16)
    return GenRequest(messages=[{"role": "user", "content": f"hello {key}"}], key=key, **kw)


def test_plain_request_maps_fields_and_usage(server: ScriptedServer) -> None:
    server.handler = lambda _r, _n: chat_reply("hi there", 11, 4, "length")
    with backend_for(server) as backend:
        (result,) = backend.generate([req("a", temperature=0.3, top_p=0.8, seed=7)])
    assert result.ok and result.text == "hi there"
    assert (result.prompt_tokens, result.completion_tokens) == (11, 4)
    assert result.finish_reason == "length"
    assert result.extra["retries"] == 0
    (seen,) = server.received
    assert seen.path == "/v1/chat/completions"
    assert seen.body["model"] == "test-model"
    assert seen.body["messages"] == [{"role": "user", "content": "hello a"}]
    assert seen.body["max_tokens"] == 16
    assert (seen.body["temperature"], seen.body["top_p"], seen.body["seed"]) == (0.3, 0.8, 7)
    assert "structured_outputs" not in seen.body
    assert "authorization" not in seen.headers


def test_empty_batch(server: ScriptedServer) -> None:
    with backend_for(server) as backend:
        assert backend.generate([]) == []
    assert server.received == []


def test_429_twice_then_ok(server: ScriptedServer) -> None:
    def handler(_r: Received, n: int) -> Reply:
        if n < 2:
            return Reply(429, {"error": "busy"}, headers={"Retry-After": "0"})
        return chat_reply("finally")

    server.handler = handler
    with backend_for(server, backoff_s=30.0) as backend:  # Retry-After: 0 must win
        started = time.perf_counter()
        (result,) = backend.generate([req()])
    assert time.perf_counter() - started < 10
    assert result.ok and result.text == "finally"
    assert result.extra["retries"] == 2
    assert len(server.received) == 3


def test_always_500_gives_error_after_max_retries(server: ScriptedServer) -> None:
    server.handler = lambda _r, _n: Reply(500, "engine on fire")
    with backend_for(server, max_retries=3, backoff_s=0.01) as backend:
        (result,) = backend.generate([req()])
    assert not result.ok and result.text == ""
    assert result.error is not None
    assert result.error.startswith("http 500 after 3 retries")
    assert "engine on fire" in result.error
    assert result.extra["retries"] == 3
    assert len(server.received) == 4


def test_400_is_not_retried(server: ScriptedServer) -> None:
    server.handler = lambda _r, _n: Reply(400, {"error": {"message": "bad schema"}})
    with backend_for(server, max_retries=4) as backend:
        (result,) = backend.generate([req()])
    assert result.error is not None and result.error.startswith("http 400: ")
    assert "bad schema" in result.error
    assert result.text == "" and result.extra["retries"] == 0
    assert len(server.received) == 1


def test_slow_server_times_out(server: ScriptedServer) -> None:
    server.handler = lambda _r, _n: Reply(body=chat_reply().body, delay_s=2.0)
    with backend_for(server, timeout_s=0.3, max_retries=1) as backend:
        (result,) = backend.generate([req()])
    assert result.error == "timeout after 1 retries: ReadTimeout"
    assert result.text == "" and result.extra["retries"] == 1


def test_connection_refused_is_an_error_not_an_exception() -> None:
    with ScriptedServer() as srv:
        url = srv.base_url  # port is free again once the server is gone
    backend = OpenAIHTTPBackend(Endpoint(url, None), "m", max_retries=1, backoff_s=0.0)
    with backend:
        (result,) = backend.generate([req()])
    assert result.error is not None and result.error.startswith("connection error after 1")


def test_concurrency_is_reached_and_never_exceeded(server: ScriptedServer) -> None:
    concurrency, total = 3, 10

    def handler(r: Received, _n: int) -> Reply:
        # Hold each call until the pool is full (or the last calls have arrived), so
        # the server sees exactly how many the client lets through at once.
        server.wait_until(
            lambda s: s.in_flight >= concurrency or len(s.received) >= total, timeout_s=5.0
        )
        time.sleep(0.02)  # room for a call beyond the limit to show up, were there one
        return chat_reply(r.body["messages"][0]["content"].upper())

    server.handler = handler
    requests = [req(f"r{i}") for i in range(total)]
    with backend_for(server, concurrency=concurrency) as backend:
        results = backend.generate(requests)
    assert server.max_in_flight == concurrency
    assert [r.text for r in results] == [f"HELLO R{i}" for i in range(total)]
    assert len(server.received) == total


def test_order_preserved_with_uneven_latency(server: ScriptedServer) -> None:
    def handler(r: Received, n: int) -> Reply:
        content = r.body["messages"][0]["content"]
        reply = chat_reply(content)
        reply.delay_s = 0.2 if content.endswith(("0", "3")) else 0.0
        return reply

    server.handler = handler
    with backend_for(server, concurrency=4) as backend:
        results = backend.generate([req(f"k{i}") for i in range(8)])
    assert [r.text for r in results] == [f"hello k{i}" for i in range(8)]


def test_one_bad_request_does_not_sink_the_batch(server: ScriptedServer) -> None:
    def handler(r: Received, _n: int) -> Reply:
        if r.body["messages"][0]["content"] == "hello bad":
            return Reply(422, "no")
        return chat_reply("fine")

    server.handler = handler
    with backend_for(server) as backend:
        results = backend.generate([req("a"), req("bad"), req("c")])
    assert [r.ok for r in results] == [True, False, True]


def test_structured_output_fields(server: ScriptedServer) -> None:
    schema = {"type": "object", "properties": {"x": {"type": "integer"}}, "required": ["x"]}
    with backend_for(server) as backend:
        backend.generate(
            [
                req("j", constraint=Constraint(json_schema=schema)),
                req("c", constraint=Constraint(choice=("yes", "no"))),
            ]
        )
    bodies = {r.body["messages"][0]["content"]: r.body for r in server.received}
    assert bodies["hello j"]["structured_outputs"] == {"json": schema}
    assert bodies["hello c"]["structured_outputs"] == {"choice": ["yes", "no"]}
    for body in bodies.values():
        assert "guided_json" not in body and "guided_choice" not in body


def test_bad_json_response_is_an_error(server: ScriptedServer) -> None:
    server.handler = lambda _r, _n: Reply(200, "<html>proxy</html>")
    with backend_for(server) as backend:
        (result,) = backend.generate([req()])
    assert result.error is not None and result.error.startswith("bad response")


def test_auth_header_from_env_and_key_never_logged(
    server: ScriptedServer, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)  # every logger, httpx and httpcore included
    monkeypatch.setenv(KEY_ENV, SECRET)

    def handler(_r: Received, n: int) -> Reply:
        return Reply(503, "warming up") if n == 0 else chat_reply()

    server.handler = handler
    endpoint = resolve_endpoint(
        HTTPBackendConfig(conn_id=None, base_url=server.base_url, api_key_env=KEY_ENV)
    )
    assert endpoint.api_key == SECRET
    with backend_for(server, api_key=endpoint.api_key) as backend:
        (result,) = backend.generate([req()])
        shown = repr(backend) + str(backend)
    assert result.ok and result.extra["retries"] == 1
    assert all(r.headers["authorization"] == f"Bearer {SECRET}" for r in server.received)
    assert caplog.records, "expected retry and endpoint log lines"
    assert SECRET not in caplog.text
    assert SECRET not in repr(endpoint) and SECRET not in str(endpoint)
    assert SECRET not in shown and SECRET not in f"{endpoint}"
    assert "***" in repr(endpoint)


def test_endpoint_repr_without_key() -> None:
    assert (
        repr(Endpoint("http://h:1/v1", None)) == "Endpoint(base_url='http://h:1/v1', api_key=None)"
    )
    assert "pw" not in repr(Endpoint("http://u:pw@h:1/v1", None))


# -- resolve_endpoint ------------------------------------------------------------------


def test_resolve_from_airflow_conn_json(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    conn = {
        "conn_type": "http",
        "host": "teacher.internal",
        "port": 8123,
        "schema": "v1",
        "password": SECRET,
    }
    monkeypatch.setenv("AIRFLOW_CONN_MAGA_TEACHER", json.dumps(conn))
    monkeypatch.delenv(KEY_ENV, raising=False)
    endpoint = resolve_endpoint(
        HTTPBackendConfig(
            conn_id="maga_teacher", base_url="http://unused:1/v1", api_key_env=KEY_ENV
        )
    )
    assert endpoint.base_url == "http://teacher.internal:8123/v1"
    assert endpoint.api_key == SECRET
    assert SECRET not in caplog.text


def test_resolve_from_airflow_conn_uri(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AIRFLOW_CONN_MAGA_TEACHER", f"https://:{SECRET}@teacher.example.org/v1")
    endpoint = resolve_endpoint(HTTPBackendConfig(conn_id="maga_teacher", api_key_env=KEY_ENV))
    assert endpoint.base_url == "https://teacher.example.org/v1"
    assert endpoint.api_key == SECRET


def test_resolve_conn_without_schema_or_password(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AIRFLOW_CONN_MAGA_TEACHER_B", "http://10.0.0.5:8000")
    monkeypatch.setenv(KEY_ENV, "from-env")
    endpoint = resolve_endpoint(HTTPBackendConfig(conn_id="maga_teacher_b", api_key_env=KEY_ENV))
    assert endpoint.base_url == "http://10.0.0.5:8000/v1"
    assert endpoint.api_key == "from-env"


def test_resolve_falls_back_to_base_url(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("AIRFLOW_CONN_MAGA_TEST_ABSENT", raising=False)
    monkeypatch.setenv(KEY_ENV, SECRET)
    cfg = HTTPBackendConfig(
        conn_id="maga_test_absent", base_url="http://localhost:9000/v1/", api_key_env=KEY_ENV
    )
    endpoint = resolve_endpoint(cfg)
    assert endpoint == Endpoint("http://localhost:9000/v1", SECRET)
    assert endpoint.api_key == SECRET
    monkeypatch.delenv(KEY_ENV)
    assert resolve_endpoint(cfg).api_key is None


def test_resolve_raises_when_nothing_configured(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("AIRFLOW_CONN_MAGA_TEST_ABSENT", raising=False)
    cfg = HTTPBackendConfig(conn_id="maga_test_absent", base_url=None)
    with pytest.raises(ValueError, match="maga_test_absent") as info:
        resolve_endpoint(cfg)
    assert "base_url" in str(info.value)
    with pytest.raises(ValueError, match="base_url"):
        resolve_endpoint(HTTPBackendConfig(conn_id=None, base_url=None))
