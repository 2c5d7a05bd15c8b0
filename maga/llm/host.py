"""The engine host: engines that outlive the Airflow task that started them.

The CLI runner keeps engines across stages in its one process (:class:`EnginePool`).
Airflow runs every task in a process of its own, so without a host each model task starts
its engines again: 15-25 s per engine on a 2-core CPU, which made a form-triggered demo
refresh 2.6x slower than the same refresh in the CLI. ``python -m maga.llm.host SOCKET``
is that pool in a long-lived process of its own: a task connects over a Unix socket
(:mod:`maga.llm.host_client`, :mod:`maga.llm.host_find`), asks for generations by model spec, and the host answers
from an engine an earlier task started when one is kept, else starts it.

- One client at a time: model tasks on a CPU take turns on the cores anyway (the
  ``cpu_models`` pool); a task that finds the host busy starts engines of its own.
- Requests and results go through files in the client's exchange folder, as between a
  session and its worker; every ``maga`` log line of the host is also sent to the client
  while it is connected, so a task log still shows its engines' start, dtype and progress.
- The host ends, and its engines with it, after ``idle_s`` seconds without a client.
  It leaves its socket under the client's lock (``host_find.host_lock``), so a client
  never connects to a host that is on its way out.
- Engines are started from the host's main thread, which lives as long as the host: an
  engine worker dies with the thread that started it (``lifecycle.py``).
"""

from __future__ import annotations

import contextlib
import itertools
import json
import logging
import os
import select
import socket
import sys
import threading
import traceback
from dataclasses import asdict
from pathlib import Path
from typing import Any

from maga.llm import facts as engine_facts
from maga.llm.pool import EnginePool
from maga.llm.specs import ModelSpec, read_requests, read_stream_rows, write_results
from maga.log import LOGGER_NAME, get_logger

log = get_logger("llm.host")


class ClientGone(ConnectionError):
    """The connected task closed its socket or died."""


class _Relay(logging.Handler):
    """Every ``maga`` record of the host, also sent to the connected client."""

    def __init__(self, send: Any) -> None:
        super().__init__(logging.INFO)
        self.send = send

    def emit(self, record: logging.LogRecord) -> None:
        # A client gone: the command that is running finds out on its own reply.
        with contextlib.suppress(ClientGone):
            self.send({"log": record.getMessage(), "logger": record.name,
                       "level": record.levelno})  # fmt: skip


class Host:
    def __init__(self, sock_path: Path, idle_s: float, deterministic: bool) -> None:
        self.path, self.idle_s = sock_path, idle_s
        self.pool = EnginePool(1, deterministic)
        self._lock = threading.Lock()  # one writer on the socket at a time
        self._conn: socket.socket | None = None
        self.stopping = False

    # --- the socket ---------------------------------------------------------------
    def send(self, obj: dict[str, Any]) -> None:
        data = (json.dumps(obj) + "\n").encode()
        with self._lock:
            if self._conn is None:
                raise ClientGone("no client")
            try:
                self._conn.sendall(data)
            except OSError as exc:
                raise ClientGone(str(exc)) from exc

    def counters(self) -> dict[str, Any]:
        return {"engine_starts": self.pool.engine_starts, "reused": self.pool.reused,
                "startup_seconds": self.pool.startup_seconds,
                "spawn_seconds": self.pool.spawn_seconds}  # fmt: skip

    def serve(self) -> int:
        from maga.llm.host_find import host_lock

        listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        listener.bind(str(self.path))
        os.chmod(self.path, 0o600)
        listener.listen(8)
        log.info("engine host %d listening on %s (ends after %.0f s without a client)",
                 os.getpid(), self.path, self.idle_s)  # fmt: skip
        try:
            while True:
                ready, _, _ = select.select([listener], [], [], self.idle_s)
                if not ready:
                    with host_lock(self.path):  # no client can be connecting now
                        if not select.select([listener], [], [], 0)[0]:
                            self.path.unlink(missing_ok=True)
                            break
                conn, _ = listener.accept()
                self.serve_client(conn)
        finally:
            listener.close()
            why = "asked to stop" if self.stopping else f"no task for {self.idle_s:.0f} s"
            log.info("engine host %d: %s; ending %d engine(s)", os.getpid(), why,
                     len(self.pool._sessions))  # fmt: skip
            self.pool.close()
        return 0

    def serve_client(self, conn: socket.socket) -> None:
        relay = _Relay(self.send)
        self._conn = conn
        logging.getLogger(LOGGER_NAME).addHandler(relay)
        try:
            lines = conn.makefile("r", encoding="utf-8")
            for line in lines:
                cmd = json.loads(line)
                try:
                    if self.handle(cmd):
                        break
                except ClientGone:
                    raise
                except Exception as exc:  # the client raises it with this text
                    text = "".join(traceback.format_exception_only(exc)).strip()
                    self.send({"ok": False, "error": text, **self.counters()})
        except ConnectionResetError:
            pass  # the task ended with relayed log lines unread: it was done
        except (ClientGone, OSError, ValueError) as exc:
            log.info("engine host: the task left mid-command (%s)", exc)
        finally:
            logging.getLogger(LOGGER_NAME).removeHandler(relay)
            with self._lock:
                self._conn = None
            conn.close()

    # --- commands -----------------------------------------------------------------
    def handle(self, cmd: dict[str, Any]) -> bool:
        """Serve one command; True when the host should stop serving this client."""
        op = cmd.get("op")
        if op == "hello":
            self.pool.keep = max(1, int(cmd.get("keep") or 1))
            while len(self.pool._sessions) > self.pool.keep:
                self.pool._end(next(iter(self.pool._sessions)))
            self.send({"ok": True, "pid": os.getpid(), "kept": len(self.pool._sessions),
                       **self.counters()})  # fmt: skip
        elif op == "prepare":
            self.pool.prepare([ModelSpec(**s) for s in cmd["specs"]])
            self.send({"ok": True, "facts": engine_facts.take(), **self.counters()})
        elif op == "generate":
            self._generate(cmd)
        elif op == "stream":
            self._stream(cmd)
        elif op == "status":
            kept = [json.loads(k)[0] for k in self.pool._sessions]  # the models' paths
            self.send({"ok": True, "pid": os.getpid(), "kept": kept, "idle_s": self.idle_s,
                       **self.counters()})  # fmt: skip
        elif op == "release":
            self.pool.close()
            self.send({"ok": True, **self.counters()})
        elif op == "shutdown":
            self.send({"ok": True})
            self.idle_s, self.stopping = 0.0, True  # leave as soon as this client is gone
            return True
        else:
            raise ValueError(f"unknown engine host command {op!r}")
        return False

    def _generate(self, cmd: dict[str, Any]) -> None:
        spec = ModelSpec(**cmd["spec"])
        requests = read_requests(cmd["requests"])
        out = self.pool.generate(spec, requests, bool(cmd.get("one_call")))
        write_results(Path(cmd["results"]), out.results)
        self.send({"ok": True, "usage": asdict(out.usage), "startup": out.startup_seconds,
                   "facts": engine_facts.take(), **self.counters()})  # fmt: skip

    def _stream(self, cmd: dict[str, Any]) -> None:
        spec, out_dir = ModelSpec(**cmd["spec"]), Path(cmd["results_dir"])
        stream = self.pool.stream(spec, _groups(cmd["requests"]))
        try:
            for group, out in stream:
                path = out_dir / f"group-{group}.jsonl"
                write_results(path, out.results)
                self.send({"ok": True, "group": group, "results": str(path),
                           "usage": asdict(out.usage), "startup": out.startup_seconds,
                           "facts": engine_facts.take()})  # fmt: skip
        finally:
            stream.close()  # a client gone mid-stream: the session ends that engine
        self.send({"ok": True, "done": True, **self.counters()})


def _groups(path: str) -> Any:
    """``(group, requests)`` of a stream request file (rows of one group are adjacent)."""
    for group, rows in itertools.groupby(read_stream_rows(path), key=lambda row: row[0]):
        yield group, [request for _, request in rows]


if __name__ == "__main__":  # python -m maga.llm.host SOCKET IDLE_S DETERMINISTIC
    sys.exit(Host(Path(sys.argv[1]), float(sys.argv[2]), sys.argv[3] == "1").serve())
