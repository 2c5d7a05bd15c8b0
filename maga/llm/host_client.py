"""A task's side of the engine host (:mod:`maga.llm.host`): :class:`HostedPool` serves a
stage's engine calls from the host with the interface of :class:`maga.llm.pool.EnginePool`,
and :func:`task_engines` picks it, or a pool of the task's own, for one Airflow task.
Finding or starting the matching host is :mod:`maga.llm.host_find`.
"""

from __future__ import annotations

import contextlib
import json
import os
import socket
import tempfile
from collections.abc import Iterable, Iterator
from dataclasses import asdict
from pathlib import Path
from typing import Any

from maga.llm import facts as engine_facts
from maga.llm.base import GenRequest, UsageCounter
from maga.llm.host_find import DIR_ENV, connect, fingerprint, host_dir, stop_hosts
from maga.llm.pool import EnginePool, active_pool, keep_engines
from maga.llm.specs import (
    GenerationJobError,
    JobOutcome,
    ModelSpec,
    read_results,
    stream_rows,
    write_requests,
)
from maga.log import get_logger

log = get_logger("llm.jobs")

__all__ = ["DIR_ENV", "HostBusy", "HostedPool", "fingerprint", "host_dir", "host_idle_s",
           "stop_hosts", "task_engines"]  # fmt: skip
BUSY_WAIT_S = 15.0  # how long a task waits for a host that serves another task


class HostBusy(RuntimeError):
    """The host serves another task; this one starts engines of its own."""


class HostedPool:
    """:class:`maga.llm.pool.EnginePool`'s calls and counters, served by the engine host.
    Counters are this task's: engines the host started or reused for it.

    It connects at the first engine call, so a task that loads no model (a gate, a
    training) never holds the host; if the host is still serving another task then, this
    task's engines are its own (an :class:`EnginePool` that ends with the task)."""

    def __init__(self, keep: int, deterministic: bool, idle_s: float) -> None:
        self.keep, self.deterministic, self.idle_s = keep, deterministic, idle_s
        self._sock: socket.socket | None = None
        self._lines: Any = None
        self._base: dict[str, Any] = {}
        self._now: dict[str, Any] = {}
        self._tmp = tempfile.TemporaryDirectory(prefix="maga-hosted-")
        self._calls = 0
        self.path: Path | None = None
        self._own: EnginePool | None = None

    def _local(self) -> EnginePool | None:
        """Connect on the first call; the task's own pool when the host was busy then."""
        if self._own is None and self._sock is None:
            try:
                self.open()
            except HostBusy as exc:
                log.info("%s; this task starts engines of its own", exc)
                self._own = EnginePool(self.keep, self.deterministic)
        return self._own

    def open(self) -> None:
        sock, self.path, started = connect(self.deterministic, self.idle_s)
        sock.settimeout(BUSY_WAIT_S)
        self._sock, self._lines = sock, sock.makefile("r", encoding="utf-8")
        try:
            hello = self._call({"op": "hello", "keep": self.keep})
        except TimeoutError:
            self._drop()
            raise HostBusy(f"engine host at {self.path} is serving another task") from None
        sock.settimeout(None)
        self._base = self._base or dict(hello)
        log.info("engine host %s (pid %d, %s): %d engine(s) kept from earlier tasks; it keeps "
                 "engines %.0f s after the last task (log %s)", self.path.name, hello["pid"],
                 "started now" if started else "running", hello["kept"], self.idle_s,
                 self.path.with_suffix(".log"))  # fmt: skip

    def _drop(self) -> None:
        if self._sock is not None:
            with contextlib.suppress(OSError):
                self._sock.close()
        self._sock = self._lines = None

    def _send(self, cmd: dict[str, Any]) -> None:
        if self._sock is None:
            self.open()
        assert self._sock is not None
        try:
            self._sock.sendall((json.dumps(cmd) + "\n").encode())
        except OSError as exc:
            self._drop()
            raise GenerationJobError(f"engine host {self.path}: {exc}") from exc

    def _reply(self) -> dict[str, Any]:
        """The next reply; log lines the host relays on the way go to this task's log."""
        while True:
            line = self._lines.readline() if self._lines is not None else ""
            if not line:
                self._drop()
                raise GenerationJobError(f"the engine host ended mid-command; its log: "
                                         f"{self.path.with_suffix('.log') if self.path else '?'}")  # fmt: skip
            msg = json.loads(line)
            if "log" in msg:
                get_logger(msg["logger"].removeprefix("maga.")).log(msg["level"], "%s", msg["log"])
                continue
            for label, facts in (msg.pop("facts", None) or {}).items():
                engine_facts.note(label, facts)
            if "engine_starts" in msg:
                self._now = msg
            if not msg.get("ok"):
                raise GenerationJobError(str(msg.get("error")))
            return msg

    def _call(self, cmd: dict[str, Any]) -> dict[str, Any]:
        self._send(cmd)
        return self._reply()

    # --- EnginePool's interface -----------------------------------------------------
    def _delta(self, name: str) -> Any:
        own = getattr(self._own, name) if self._own is not None else 0
        return self._now.get(name, 0) - self._base.get(name, 0) + own

    engine_starts = property(lambda self: int(self._delta("engine_starts")))
    startup_seconds = property(lambda self: float(self._delta("startup_seconds")))
    spawn_seconds = property(lambda self: float(self._delta("spawn_seconds")))
    reused = property(lambda self: int(self._delta("reused")))

    def prepare(self, specs: list[ModelSpec]) -> None:
        if (own := self._local()) is not None:
            return own.prepare(specs)
        self._call({"op": "prepare", "specs": [asdict(s) for s in specs]})

    def generate(self, spec: ModelSpec, requests: list[GenRequest],
                 one_call: bool = False) -> JobOutcome:  # fmt: skip
        from maga.llm.oneshot import run_http

        if spec.backend != "vllm":
            return run_http(spec, requests, None)
        if (own := self._local()) is not None:
            return own.generate(spec, requests, one_call)
        self._calls += 1
        req, res = (Path(self._tmp.name) / f"{kind}-{self._calls}.jsonl" for kind in ("req", "res"))
        write_requests(req, requests)
        reply = self._call({"op": "generate", "spec": asdict(spec), "requests": str(req),
                            "results": str(res), "one_call": one_call})  # fmt: skip
        results = read_results(res)
        req.unlink(missing_ok=True)
        res.unlink(missing_ok=True)
        return JobOutcome(results, UsageCounter(**reply["usage"]), float(reply["startup"]))

    def stream(self, spec: ModelSpec,
               groups: Iterable[tuple[int, list[GenRequest]]]) -> Iterator[tuple[int, JobOutcome]]:  # fmt: skip
        from maga.llm.oneshot import run_http

        if spec.backend != "vllm":
            for group, requests in groups:
                yield group, run_http(spec, requests, None)
            return
        if (own := self._local()) is not None:
            yield from own.stream(spec, groups)
            return
        self._calls += 1
        req = Path(self._tmp.name) / f"stream-{self._calls}.jsonl"
        out_dir = req.with_suffix("")
        out_dir.mkdir()
        sent = 0
        with req.open("w", encoding="utf-8") as fh:
            for group, requests in groups:
                if not requests:
                    yield group, JobOutcome([], UsageCounter())
                    continue
                sent += 1
                fh.write(stream_rows(group, requests))
        if sent:
            self._send({"op": "stream", "spec": asdict(spec), "requests": str(req),
                        "results_dir": str(out_dir)})  # fmt: skip
            finished = False
            try:
                while not (reply := self._reply()).get("done"):
                    path = Path(reply["results"])
                    results = read_results(path)
                    path.unlink(missing_ok=True)
                    yield reply["group"], JobOutcome(results, UsageCounter(**reply["usage"]),
                                                     float(reply["startup"]))  # fmt: skip
                finished = True
            finally:
                if not finished:  # a reader that stopped early: the host ends that engine
                    self._drop()
        req.unlink(missing_ok=True)
        with contextlib.suppress(OSError):
            out_dir.rmdir()

    def release(self, why: str) -> None:
        if self._own is not None:
            return self._own.release(why)
        log.info("%s: asking the engine host to end its engines", why)
        self._call({"op": "release"})

    def close(self) -> None:
        """This task is done with the host; its engines stay for the next task (engines
        of its own end here)."""
        self._drop()
        if self._own is not None:
            self._own.close()
        self._tmp.cleanup()


IDLE_ENV = "MAGA_ENGINE_HOST_IDLE_S"  # overrides runner.engine_host_idle_s; 0: no host


def host_idle_s(configured: float) -> float:
    """Seconds a host keeps engines after its last task: ``$MAGA_ENGINE_HOST_IDLE_S``,
    else ``runner.engine_host_idle_s``; 0 means every task starts its own."""
    raw = os.environ.get(IDLE_ENV, "").strip()
    if not raw:
        return configured
    try:
        value = float(raw)
    except ValueError:
        raise ValueError(
            f"{IDLE_ENV}={raw!r}: expected seconds (0 turns the engine host off)"
        ) from None
    if value < 0:
        raise ValueError(f"{IDLE_ENV}={raw!r}: expected seconds (0 turns the engine host off)")
    return value


@contextlib.contextmanager
def task_engines(keep: int, deterministic: bool | None, idle_s: float) -> Iterator[Any]:
    """Engines for one Airflow task: served by the engine host (started if none runs) when
    ``idle_s`` (:func:`host_idle_s`) is positive and no GPU is visible, so engines outlive
    the task for the next one; else a pool of the task's own that ends with it. On a GPU
    engines never wait between tasks: a training task needs that memory."""
    from maga.llm.engine_process import accelerator_visible, default_deterministic

    idle_s = host_idle_s(idle_s)
    if idle_s <= 0 or accelerator_visible():
        with keep_engines(keep, deterministic) as pool:
            yield pool
        return
    det = default_deterministic() if deterministic is None else deterministic
    with active_pool(HostedPool(keep, det, idle_s)) as pool:
        yield pool
