"""Backoff of OpenAIHTTPBackend: exponential growth, jitter within its bounds, the cap,
and ``Retry-After`` as delta seconds or as an HTTP date, on a real local HTTP server."""

from __future__ import annotations

import statistics
import time
from email.utils import formatdate

import httpx
import pytest

from maga.llm.connection import Endpoint
from maga.llm.http_backend import MAX_BACKOFF_S, MAX_RETRY_AFTER_S, OpenAIHTTPBackend, _retry_after

from .servers import Received, Reply, ScriptedServer, chat_reply
from .test_http_backend import req

pytestmark = pytest.mark.timeout(120)


def _backend(server: ScriptedServer | None = None, **kw) -> OpenAIHTTPBackend:
    url = server.base_url if server else "http://127.0.0.1:9/v1"
    return OpenAIHTTPBackend(Endpoint(url, None), model="m", timeout_s=10, **kw)


def test_backoff_doubles_with_jitter_in_its_half_and_stops_at_the_cap():
    prev: list[float] = []
    with _backend(backoff_s=1.0) as b:
        for retry in range(10):
            full = min(2.0**retry, MAX_BACKOFF_S)
            draws = [b._backoff(retry) for _ in range(300)]
            assert all(full / 2 <= d <= full for d in draws), (retry, min(draws), max(draws))
            assert len(set(draws)) > 250  # jittered, not one fixed delay
            # spread over the whole jitter band, not bunched at one end
            assert min(draws) < full * 0.6 and max(draws) > full * 0.9
            if prev:
                assert statistics.mean(draws) > statistics.mean(prev) * (1.9 if full < 60 else 0.9)
            prev = draws
        assert max(b._backoff(30) for _ in range(100)) <= MAX_BACKOFF_S


def _timed(server: ScriptedServer, replies: list[Reply]) -> list[float]:
    times: list[float] = []

    def handler(_r: Received, n: int) -> Reply:
        times.append(time.monotonic())
        return replies[n] if n < len(replies) else chat_reply("done")

    server.handler = handler
    return times


def test_waits_between_attempts_grow_on_a_real_server():
    with ScriptedServer() as server:
        times = _timed(server, [Reply(503, "busy")] * 3)
        with _backend(server, backoff_s=0.2, max_retries=4) as b:
            (result,) = b.generate([req()])
    assert result.ok and result.extra["retries"] == 3
    gaps = [b - a for a, b in zip(times, times[1:], strict=False)]
    for k, gap in enumerate(gaps):  # at least half the step's delay; loose above (loaded CI)
        assert 0.2 * 2**k / 2 <= gap <= 0.2 * 2**k + 1.0, (k, gaps)


def test_retry_after_as_http_date_is_waited_for_instead_of_the_backoff():
    with ScriptedServer() as server:
        at = formatdate(time.time() + 2, usegmt=True)  # whole seconds: 1-2 s from now
        times = _timed(server, [Reply(429, "slow down", {"Retry-After": at})])
        with _backend(server, backoff_s=30.0) as b:  # the backoff alone: 15-30 s
            (result,) = b.generate([req()])
    assert result.ok and result.extra["retries"] == 1
    assert 0.5 <= times[1] - times[0] < 6


def test_retry_after_parsing_bounds_and_fallback():
    h = lambda v: httpx.Headers({"Retry-After": v})  # noqa: E731
    assert _retry_after(h("7")) == 7.0
    assert _retry_after(h(formatdate(time.time() - 3600, usegmt=True))) == 0.0  # in the past
    assert _retry_after(h("999999")) == MAX_RETRY_AFTER_S
    assert _retry_after(h(formatdate(time.time() + 10**6, usegmt=True))) == MAX_RETRY_AFTER_S
    assert _retry_after(h("soon, maybe")) is None  # unparseable: the backoff applies
    assert _retry_after(httpx.Headers()) is None


def test_unparseable_retry_after_falls_back_to_the_backoff():
    with ScriptedServer() as server:
        times = _timed(server, [Reply(503, "x", {"Retry-After": "whenever"})])
        with _backend(server, backoff_s=0.4) as b:
            (result,) = b.generate([req()])
    assert result.ok and 0.2 <= times[1] - times[0] <= 1.5
