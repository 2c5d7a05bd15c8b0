"""OpenAIHTTPBackend against a real ``vllm serve`` on CPU with the built-in tiny model.

The model's weights are random, so the text means nothing; what counts is that the
wire format, structured outputs, token counts, errors and auth work end to end.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator

import jsonschema
import pytest

from maga.llm.base import Constraint, GenRequest
from maga.llm.connection import Endpoint
from maga.llm.http_backend import OpenAIHTTPBackend
from maga.log import get_logger
from maga.models.builtin import TINY, resolve_model

from .servers import VLLMServer, vllm_server

pytestmark = pytest.mark.slow
log = get_logger("tests.vllm_serve")

API_KEY = "sk-serve-test-4f1c"
MAX_MODEL_LEN = 1024
SCHEMA = {
    "type": "object",
    "properties": {
        "genre": {"type": "string", "minLength": 1, "maxLength": 12},
        "score": {"type": "integer", "minimum": 1, "maximum": 5},
    },
    "required": ["genre", "score"],
    "additionalProperties": False,
}
CHOICES = ("keep", "drop", "unsure")
# 70-200 s on a busy 2-core CPU; raise it where the machine is slower still
STARTUP_TIMEOUT_S = float(os.environ.get("MAGA_VLLM_SERVE_TIMEOUT_S", "300"))


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[VLLMServer, str]]:
    model = resolve_model(TINY)
    args = [
        "--max-model-len",
        str(MAX_MODEL_LEN),
        "--enforce-eager",
        "--max-num-seqs",
        "8",
        "--structured-outputs-config",
        '{"backend":"xgrammar","disable_any_whitespace":true}',
    ]
    env = {"VLLM_CPU_KVCACHE_SPACE": "1", "VLLM_API_KEY": API_KEY, "HF_HUB_OFFLINE": "1"}
    log_path = tmp_path_factory.mktemp("vllm_serve") / "server.log"
    with vllm_server(model, log_path, args, env=env, startup_timeout_s=STARTUP_TIMEOUT_S) as server:
        log.info("vllm serve healthy after %.1fs on port %d", server.startup_s, server.port)
        yield server, model


@pytest.fixture
def backend(served: tuple[VLLMServer, str]) -> Iterator[OpenAIHTTPBackend]:
    server, model = served
    with OpenAIHTTPBackend(
        Endpoint(server.base_url, API_KEY), model, concurrency=4, timeout_s=120, backoff_s=0.5
    ) as b:
        yield b


def _msgs(text: str) -> list[dict[str, str]]:
    return [{"role": "system", "content": "You label texts."}, {"role": "user", "content": text}]


def test_plain_json_and_choice(backend: OpenAIHTTPBackend) -> None:
    requests = [
        GenRequest(_msgs("Say something."), max_tokens=24, seed=1, key="plain"),
        GenRequest(
            _msgs("Describe genre and score as JSON."),
            max_tokens=96,
            temperature=0.8,
            seed=2,
            constraint=Constraint(json_schema=SCHEMA),
            key="json",
        ),
        GenRequest(
            _msgs("Keep or drop?"),
            max_tokens=8,
            seed=3,
            constraint=Constraint(choice=CHOICES),
            key="choice",
        ),
    ]
    plain, as_json, choice = backend.generate(requests)
    for result in (plain, as_json, choice):
        assert result.ok, result.error
        assert result.prompt_tokens > 0 and result.completion_tokens > 0
        assert result.finish_reason in {"stop", "length"}
        assert result.extra["retries"] == 0
    assert plain.completion_tokens <= 24

    data = json.loads(as_json.text)
    jsonschema.validate(data, SCHEMA)
    assert as_json.finish_reason == "stop"
    log.info("constrained outputs: %s | %s", as_json.text, choice.text)

    assert choice.text in CHOICES


def test_many_requests_keep_order(backend: OpenAIHTTPBackend) -> None:
    requests = [
        GenRequest(
            _msgs(f"item {i}"),
            max_tokens=24,  # a few tokens per choice; random weights split words oddly
            seed=i,
            key=f"k{i}",
            constraint=Constraint(choice=(f"item-{i}",)),
        )
        for i in range(6)
    ]
    results = backend.generate(requests)
    assert [r.text for r in results] == [f"item-{i}" for i in range(6)]
    assert all(r.finish_reason == "stop" for r in results)


def test_server_side_rejections_become_errors(
    backend: OpenAIHTTPBackend, served: tuple[VLLMServer, str]
) -> None:
    server, model = served
    too_long = GenRequest(_msgs("x"), max_tokens=MAX_MODEL_LEN * 4, key="too-long")
    ok = GenRequest(_msgs("y"), max_tokens=4, key="ok")
    results = backend.generate([too_long, ok])
    assert results[0].error is not None and results[0].error.startswith("http 400")
    assert results[0].extra["retries"] == 0
    assert results[1].ok

    with OpenAIHTTPBackend(Endpoint(server.base_url, None), model, max_retries=1) as no_key:
        (unauth,) = no_key.generate([ok])
    assert unauth.error is not None and unauth.error.startswith("http 401")

    with OpenAIHTTPBackend(Endpoint(server.base_url, API_KEY), "no-such-model") as wrong:
        (missing,) = wrong.generate([ok])
    assert missing.error is not None and missing.error.startswith("http 404")


def test_teacher_stage_through_airflow_connection(
    served: tuple[VLLMServer, str], tmp_path, monkeypatch
) -> None:
    """The pipeline's teacher stage on the HTTP backend, its endpoint and key taken
    from the Airflow connection ``maga_teacher`` given as an environment variable."""
    from maga.jsonl import read_jsonl
    from maga.pipelines.tool_models import run_step, start_run

    server, model = served
    host, port = server.base_url.split("//")[1].split("/")[0].split(":")
    conn = {
        "conn_type": "http",
        "host": host,
        "port": int(port),
        "schema": "v1",
        "password": API_KEY,
    }
    monkeypatch.setenv("AIRFLOW_CONN_MAGA_TEACHER", json.dumps(conn))
    monkeypatch.delenv("MAGA_TEACHER_API_KEY", raising=False)
    ctx = start_run(
        "tiny",
        [
            f"storage.root={tmp_path}",
            "teacher.backend=openai",
            f"teacher.path={model}",
            "sampling.size=12",
            "sampling.heldout_docs=2",
            "teacher.http.concurrency=4",
        ],
        "http",
    )
    run_step(ctx, "sample_labeling_data")
    stats = run_step(ctx, "teacher_genre_audience")
    labels = read_jsonl(ctx.storage, ctx.uri("teacher_ga", "labels.jsonl"))
    assert len(labels) == 12 and stats["docs_in"] == 12
    assert stats["completion_tokens"] > 0
    assert stats["models"]["teacher"]["failed_requests"] == 0
    assert sum(r["valid"] for r in labels) + sum(stats["dropped"].values()) == 12
