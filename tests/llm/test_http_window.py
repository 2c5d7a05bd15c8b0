"""Issue 23 (4): a `vllm serve` teacher is fed as many requests as the gpu profile's
client allows, in batches of several windows, not 8 at a time behind a 128 barrier."""

from __future__ import annotations

import pytest

from maga.config import load_config
from maga.llm import jobs, oneshot
from maga.llm.base import GenRequest, UsageCounter

pytestmark = pytest.mark.timeout(60)


def test_http_jobs_keep_the_server_full(monkeypatch) -> None:
    cfg = load_config("gpu", ["teacher.backend=openai"])
    assert cfg.teacher.http.concurrency == 256
    seen = {}

    class Backend:
        def __init__(self, endpoint, model, concurrency, **kw) -> None:
            seen["concurrency"] = concurrency

        def close(self) -> None:
            pass

    def batches(backend, requests, label, batch_size=128):
        seen["batch"] = batch_size
        return [], UsageCounter()

    monkeypatch.setattr("maga.llm.http_backend.OpenAIHTTPBackend", Backend)
    monkeypatch.setattr("maga.llm.connection.resolve_endpoint", lambda http: ("http://x", "k"))
    monkeypatch.setattr(oneshot, "run_batches", batches)
    spec = jobs.ModelSpec(label="t", path="Qwen/Qwen3-8B", backend="openai",
                          http=cfg.teacher.http.model_dump())  # fmt: skip
    jobs.run_generation(spec, [GenRequest(messages=[], max_tokens=1)])
    assert seen["concurrency"] == 256 and seen["batch"] >= 4 * 256
