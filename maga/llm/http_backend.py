"""Teacher over HTTP: an OpenAI-compatible ``/chat/completions`` server (``vllm serve``).

Requests run on a thread pool holding at most ``concurrency`` calls in flight. A call
that hits a connection error, a timeout, HTTP 429 or 5xx is retried with exponential
backoff plus jitter (a ``Retry-After`` header wins when the server sends one); any
other 4xx fails at once. A request that still fails becomes a ``GenResult`` with
``error`` set, never an exception, so one bad request cannot sink a batch.

Structured outputs use vLLM's own request field (vLLM 0.32 removed ``guided_json`` and
``guided_choice``)::

    "structured_outputs": {"json": <JSON schema>}   or   {"choice": ["a", "b"]}

Whitespace inside constrained JSON is a server setting there
(``--structured-outputs-config '{"disable_any_whitespace": true}'``), not a request one.
"""

from __future__ import annotations

import random
import time
from concurrent.futures import ThreadPoolExecutor
from email.utils import parsedate_to_datetime
from typing import Any

import httpx

from maga.llm.base import Constraint, GenRequest, GenResult
from maga.llm.connection import Endpoint
from maga.log import get_logger

log = get_logger("llm.http")

MAX_BACKOFF_S = 60.0  # ceiling of one computed backoff sleep
MAX_RETRY_AFTER_S = 300.0  # ceiling of one sleep asked for by Retry-After
BODY_CHARS = 200  # how much of an error body goes into GenResult.error


def structured_outputs(constraint: Constraint) -> dict[str, Any]:
    """vLLM's ``structured_outputs`` request field for a constraint."""
    if constraint.json_schema is not None:
        return {"json": constraint.json_schema}
    return {"choice": list(constraint.choice or ())}


def request_body(
    req: GenRequest, model: str, chat_template_kwargs: dict[str, Any] | None = None
) -> dict[str, Any]:
    """The JSON body of one chat completion call (``chat_template_kwargs``: vLLM's field
    for chat-template variables, e.g. ``enable_thinking: false``; omitted when empty)."""
    body: dict[str, Any] = {
        "model": model,
        "messages": [dict(m) for m in req.messages],
        "max_tokens": req.max_tokens,
        "temperature": req.temperature,
        "top_p": req.top_p,
        "n": 1,
        "stream": False,
    }
    if req.seed is not None:
        body["seed"] = req.seed
    if getattr(req, "ignore_eos", False):  # vLLM extension, benchmarks only
        body["ignore_eos"] = True
    if req.constraint is not None:
        body["structured_outputs"] = structured_outputs(req.constraint)
    if chat_template_kwargs:
        body["chat_template_kwargs"] = dict(chat_template_kwargs)
    return body


def _short(text: str) -> str:
    text = " ".join(text.split())
    return text if len(text) <= BODY_CHARS else text[: BODY_CHARS - 3] + "..."


def _retry_after(headers: httpx.Headers) -> float | None:
    """Seconds asked for by a ``Retry-After`` header (delta seconds or HTTP date)."""
    raw = headers.get("retry-after")
    if raw is None:
        return None
    raw = raw.strip()
    try:
        seconds = float(raw)
    except ValueError:
        try:
            seconds = parsedate_to_datetime(raw).timestamp() - time.time()
        except (TypeError, ValueError, IndexError, OverflowError):
            return None
    return min(max(seconds, 0.0), MAX_RETRY_AFTER_S)


def _failed(error: str, retries: int, started: float) -> GenResult:
    return GenResult(
        text="",
        error=error,
        extra={"retries": retries, "latency_s": round(time.perf_counter() - started, 3)},
    )


class _Retryable(Exception):
    """A failure worth another attempt; ``reason`` goes into the final error."""

    def __init__(self, reason: str, detail: str = "", retry_after: float | None = None):
        super().__init__(reason)
        self.reason = reason
        self.detail = detail
        self.retry_after = retry_after


class OpenAIHTTPBackend:
    """LLMBackend for an OpenAI-compatible server; results come back in request order."""

    name = "openai-http"

    def __init__(
        self,
        endpoint: Endpoint,
        model: str,
        concurrency: int = 8,
        timeout_s: float = 120,
        max_retries: int = 4,
        backoff_s: float = 1.0,
        chat_template_kwargs: dict[str, Any] | None = None,
    ) -> None:
        if concurrency < 1:
            raise ValueError("concurrency must be at least 1")
        if max_retries < 0:
            raise ValueError("max_retries must not be negative")
        self.endpoint = endpoint
        self.model = model
        self.concurrency = concurrency
        self.timeout_s = float(timeout_s)
        self.max_retries = max_retries
        self.backoff_s = float(backoff_s)
        self.chat_template_kwargs = dict(chat_template_kwargs or {})
        self.url = endpoint.base_url.rstrip("/") + "/chat/completions"
        headers = {"Accept": "application/json"}
        if endpoint.api_key:
            headers["Authorization"] = f"Bearer {endpoint.api_key}"
        self._client = httpx.Client(
            headers=headers,
            timeout=httpx.Timeout(self.timeout_s),
            limits=httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency),
        )
        self._pool = ThreadPoolExecutor(max_workers=concurrency, thread_name_prefix="maga-http")
        self._closed = False

    def __repr__(self) -> str:
        return (
            f"OpenAIHTTPBackend(endpoint={self.endpoint!r}, model={self.model!r}, "
            f"concurrency={self.concurrency})"
        )

    def __enter__(self) -> OpenAIHTTPBackend:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def generate(self, requests: list[GenRequest]) -> list[GenResult]:
        """Run every request (at most ``concurrency`` at once); one result per request."""
        if self._closed:
            raise RuntimeError("OpenAIHTTPBackend is closed")
        if not requests:
            return []
        started = time.perf_counter()
        futures = [self._pool.submit(self._run_one, req) for req in requests]
        results = [f.result() for f in futures]
        failed = sum(1 for r in results if not r.ok)
        retries = sum(r.extra.get("retries", 0) for r in results)
        log.info(
            "%s: %d requests to %s in %.1fs, %d failed, %d retries",
            self.model,
            len(results),
            self.url,
            time.perf_counter() - started,
            failed,
            retries,
        )
        return results

    def close(self) -> None:
        """Stop the worker threads and close the connection pool (idempotent)."""
        if self._closed:
            return
        self._closed = True
        self._pool.shutdown(wait=True, cancel_futures=True)
        self._client.close()

    # -- one request ---------------------------------------------------------------

    def _backoff(self, retry: int) -> float:
        """Exponential backoff for retry number ``retry`` (0-based), half of it jitter."""
        delay = min(self.backoff_s * (2**retry), MAX_BACKOFF_S)
        return delay * (0.5 + random.random() / 2)

    def _run_one(self, req: GenRequest) -> GenResult:
        started = time.perf_counter()
        retries = 0
        try:
            body = request_body(req, self.model, self.chat_template_kwargs)
            while True:
                try:
                    return self._attempt(body, retries, started)
                except _Retryable as exc:
                    if retries >= self.max_retries:
                        detail = f": {exc.detail}" if exc.detail else ""
                        error = f"{exc.reason} after {retries} retries{detail}"
                        log.warning("request %r failed: %s", req.key, error)
                        return _failed(error, retries, started)
                    delay = exc.retry_after
                    if delay is None:
                        delay = self._backoff(retries)
                    retries += 1
                    log.warning(
                        "request %r: %s; retry %d/%d in %.2fs",
                        req.key,
                        exc.reason,
                        retries,
                        self.max_retries,
                        delay,
                    )
                    time.sleep(delay)
        except Exception as exc:  # never let one request raise out of generate()
            log.warning("request %r failed: %s", req.key, type(exc).__name__)
            error = f"client error: {type(exc).__name__}: {_short(str(exc))}"
            return _failed(error, retries, started)

    def _attempt(self, body: dict[str, Any], retries: int, started: float) -> GenResult:
        """One POST; returns a result, or raises _Retryable for a transient failure."""
        try:
            resp = self._client.post(self.url, json=body)
        except httpx.TimeoutException as exc:
            raise _Retryable("timeout", type(exc).__name__) from exc
        except (httpx.NetworkError, httpx.RemoteProtocolError) as exc:
            raise _Retryable("connection error", f"{type(exc).__name__}: {exc}") from exc
        status = resp.status_code
        if status == 429 or status >= 500:
            raise _Retryable(f"http {status}", _short(resp.text), _retry_after(resp.headers))
        if status >= 400:
            return _failed(f"http {status}: {_short(resp.text)}", retries, started)
        try:
            data = resp.json()
            choice = data["choices"][0]
            text = choice["message"].get("content") or ""
            usage = data.get("usage") or {}
            return GenResult(
                text=text,
                prompt_tokens=int(usage.get("prompt_tokens") or 0),
                completion_tokens=int(usage.get("completion_tokens") or 0),
                finish_reason=choice.get("finish_reason"),
                extra={
                    "retries": retries,
                    "latency_s": round(time.perf_counter() - started, 3),
                },
            )
        except (ValueError, KeyError, IndexError, TypeError, AttributeError) as exc:
            return _failed(
                f"bad response (http {status}, {type(exc).__name__}): {_short(resp.text)}",
                retries,
                started,
            )
