"""An engine process kept alive across many calls of one stage (:class:`EngineSession`).

The parent's side of the worker process (deadlines, start, end) is in
:mod:`maga.llm.engine_process`; engines kept across stages are in :mod:`maga.llm.pool`.
Public names are re-exported by :mod:`maga.llm.jobs`.
"""

from __future__ import annotations

import json
import subprocess
import tempfile
import time
from collections.abc import Iterable, Iterator
from dataclasses import asdict
from pathlib import Path
from typing import Any

from maga.llm import facts as engine_facts
from maga.llm.base import GenRequest, UsageCounter
from maga.llm.engine_process import (
    DEFAULT_PROGRESS_S,
    DEFAULT_REPLY_TIMEOUT_S,
    DEFAULT_START_TIMEOUT_S,
    PROGRESS_ENV,
    REPLY_TIMEOUT_ENV,
    START_TIMEOUT_ENV,
    default_deterministic,
    end_worker,
    exited_error,
    log_progress,
    no_reply_error,
    spawn_session_worker,
)
from maga.llm.lifecycle import ReadTimeout, timeout_setting
from maga.llm.oneshot import run_http
from maga.llm.specs import (
    GenerationJobError,
    JobOutcome,
    ModelSpec,
    engine_key,
    read_results,
    stream_rows,
    write_requests,
)
from maga.log import get_logger

# The job machinery's one logger, as before it was split into modules (task logs name it).
log = get_logger("llm.jobs")


class EngineSession:
    """One engine process kept alive across many ``generate`` calls (chunks, shards).

    A vLLM spec runs in ``python -m maga.llm.worker --session``, started on the first
    call and kept while later calls name the same model, engine settings and seed; a
    call with another spec ends that process and starts a fresh one, so one engine at
    a time holds memory. Requests and results go through files in a private folder,
    commands through stdin, replies through a pipe. HTTP specs run in-process.
    ``deterministic`` makes each request's output depend on its own seed only, so a
    chunk regenerated after a crash comes out byte-identical; None (``runner.deterministic``
    unset): on where it is free (a CPU engine), off on a GPU, where it costs throughput.
    ``seeds``: honour per-request seeds (None: when ``deterministic``).
    """

    def __init__(
        self,
        deterministic: bool | None = None,
        start_timeout_s: float | None = None,
        reply_timeout_s: float | None = None,
        seeds: bool | None = None,
    ) -> None:
        self.deterministic = default_deterministic() if deterministic is None else deterministic
        self.seeds = self.deterministic if seeds is None else seeds
        self.start_timeout_s = start_timeout_s or timeout_setting(
            START_TIMEOUT_ENV, DEFAULT_START_TIMEOUT_S
        )
        self.reply_timeout_s = reply_timeout_s or timeout_setting(
            REPLY_TIMEOUT_ENV, DEFAULT_REPLY_TIMEOUT_S
        )
        self.engine_starts = 0
        self.startup_seconds = 0.0  # engine construction, as the worker measures it
        self.spawn_seconds = 0.0  # process start to engine ready (imports included)
        self._proc: subprocess.Popen | None = None
        self._key: str | None = None
        self._reply: Any = None
        self._tail: list[str] = []
        self._tmp = tempfile.TemporaryDirectory(prefix="maga-session-")
        self._calls = 0
        self._launch: tuple[str, float] = ("", 0.0)  # label and start time of the launch
        self._unreported = 0.0  # start-up seconds no call has returned yet
        self.engine_facts: dict[str, Any] | None = None  # the running engine's (facts.py)

    def __enter__(self) -> EngineSession:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    _engine_key = staticmethod(engine_key)

    def generate(
        self, spec: ModelSpec, requests: list[GenRequest], one_call: bool = False
    ) -> JobOutcome:
        """``requests`` through the engine, fed through its bounded window; ``one_call``
        hands them to one ``LLM.generate`` call instead (the benchmarks' reference: the
        usage's seconds are then that call's alone, timed in the engine process)."""
        if spec.backend == "openai":
            return run_http(spec, requests, None)
        if spec.backend != "vllm":
            raise ValueError(f"unknown backend {spec.backend!r}")
        if not requests:
            return JobOutcome([], UsageCounter())
        startup = self._engine_for(spec)
        self._calls += 1
        job = Path(self._tmp.name)
        req_path, res_path = job / f"req-{self._calls}.jsonl", job / f"res-{self._calls}.jsonl"
        write_requests(req_path, requests)
        command = {
            "op": "generate",
            "label": spec.label,
            "requests": str(req_path),
            "results": str(res_path),
            **({"one_call": True} if one_call else {}),
        }
        if spec.lora is not None:
            command["lora"] = spec.lora
        assert self._proc is not None and self._proc.stdin is not None
        proc = self._proc
        try:
            proc.stdin.write(json.dumps(command) + "\n")
            proc.stdin.flush()
            line = self._reply.readline(self.reply_timeout_s, lambda: proc.poll() is None)
        except (BrokenPipeError, OSError):
            line = ""
        except ReadTimeout:
            self._stop(force=True)
            raise no_reply_error(spec.label, self.reply_timeout_s, self._tail) from None
        if not line:
            self._stop(force=True)  # dead worker: kill what it left behind
            raise exited_error(spec.label, proc.returncode, self._tail)
        reply = json.loads(line)
        req_path.unlink(missing_ok=True)
        if not reply.get("ok"):
            raise GenerationJobError(f"{spec.label}: {reply.get('error')}")
        results = read_results(res_path)
        res_path.unlink(missing_ok=True)
        return JobOutcome(results, UsageCounter(**reply["usage"]), startup)

    def stream(
        self, spec: ModelSpec, groups: Iterable[tuple[int, list[GenRequest]]]
    ) -> Iterator[tuple[int, JobOutcome]]:
        """``(group, outcome)`` for each ``(group, requests)``, as each group completes.

        One engine call over all groups: the worker keeps ``engine.window`` requests in
        flight across group boundaries and answers for a group when its last request is
        done, so a caller writes each group (a shard's chunk) as it finishes, with no
        barrier between them. Groups may complete out of order. Requests go to a file
        written from ``groups`` one group at a time (flat memory here too); empty groups
        are answered at once. HTTP specs run group by group."""
        if spec.backend == "openai":
            for group, requests in groups:
                yield group, run_http(spec, requests, None)
            return
        if spec.backend != "vllm":
            raise ValueError(f"unknown backend {spec.backend!r}")
        self._calls += 1
        job = Path(self._tmp.name)
        req_path, out_dir = job / f"stream-{self._calls}.jsonl", job / f"stream-{self._calls}"
        out_dir.mkdir()
        sent = total = 0
        with req_path.open("w", encoding="utf-8") as fh:
            for group, requests in groups:
                if not requests:
                    yield group, JobOutcome([], UsageCounter())
                    continue
                sent, total = sent + 1, total + len(requests)
                fh.write(stream_rows(group, requests))
        if not sent:
            req_path.unlink()
            return
        startup = self._engine_for(spec)
        command = {"op": "stream", "label": spec.label, "requests": str(req_path),
                   "results_dir": str(out_dir),
                   "progress_every_s": timeout_setting(PROGRESS_ENV, DEFAULT_PROGRESS_S)}  # fmt: skip
        if spec.lora is not None:
            command["lora"] = spec.lora
        assert self._proc is not None and self._proc.stdin is not None
        try:
            self._proc.stdin.write(json.dumps(command) + "\n")
            self._proc.stdin.flush()
        except (BrokenPipeError, OSError):
            pass
        finished, proc = False, self._proc
        try:
            while True:
                try:  # each group's answer within the reply deadline, like generate's
                    line = self._reply.readline(self.reply_timeout_s, lambda: proc.poll() is None)
                except ReadTimeout:
                    raise no_reply_error(spec.label, self.reply_timeout_s, self._tail) from None
                if not line:
                    proc.wait()
                    raise exited_error(spec.label, proc.returncode, self._tail)
                reply = json.loads(line)
                if not reply.get("ok"):
                    finished = True  # the worker stopped the stream and waits for commands
                    raise GenerationJobError(f"{spec.label}: {reply.get('error')}")
                if reply.get("done"):
                    finished = True
                    break
                if "progress" in reply:
                    log_progress(spec.label, reply["progress"], total)
                    continue
                res_path = Path(reply["results"])
                results = read_results(res_path)
                res_path.unlink(missing_ok=True)
                yield reply["group"], JobOutcome(results, UsageCounter(**reply["usage"]), startup)
                startup = 0.0
        finally:
            if not finished:
                # A dead or silent worker, or a caller that stopped reading mid-stream (the
                # worker would go on answering groups nobody reads): end the worker and its
                # process group; the next call starts a fresh engine.
                self._stop(force=True)  # also closes and drops the reply reader
        req_path.unlink(missing_ok=True)
        out_dir.rmdir()

    def _engine_for(self, spec: ModelSpec) -> float:
        """Start ``spec``'s engine unless it runs; the start-up seconds no call has
        returned yet (also those of a start made in advance), which this call returns."""
        key = self._engine_key(spec)
        if self._proc is None or key != self._key or self._proc.poll() is not None:
            self._start(spec)
        startup, self._unreported = self._unreported, 0.0
        engine_facts.note(spec.label, self.engine_facts)
        return startup

    def _start(self, spec: ModelSpec) -> float:
        self.launch(spec)
        return self.wait_ready()

    def launch(self, spec: ModelSpec) -> None:
        """Start the engine process for ``spec`` and return at once (``wait_ready`` waits
        for its engine): several sessions can start their engines side by side."""
        import threading

        key = self._engine_key(spec)
        self._stop()
        spec_path = Path(self._tmp.name) / "spec.json"
        spec_path.write_text(json.dumps({**asdict(spec), "deterministic": self.deterministic,
                                         "seeds": self.seeds}))  # fmt: skip
        log.info("%s: starting a vLLM engine process (session)", spec.label)
        began = time.perf_counter()
        proc, self._reply = spawn_session_worker(spec_path)
        self._proc = proc
        self._key = key
        self._tail = []
        self._launch = (spec.label, began)
        threading.Thread(target=self._pump, args=(proc, spec.label), daemon=True).start()

    def wait_ready(self) -> float:
        """Wait for the engine ``launch`` started; its start-up seconds."""
        proc, (label, began) = self._proc, self._launch
        assert proc is not None
        try:  # the worker says "ready" once its engine is up
            line = self._reply.readline(self.start_timeout_s, lambda: proc.poll() is None)
        except ReadTimeout:
            self._stop(force=True)
            raise GenerationJobError(
                f"{label}: engine not ready within {self.start_timeout_s:.0f}s "
                f"({START_TIMEOUT_ENV}); killed it; last output:\n" + "\n".join(self._tail)
            ) from None
        if not line:
            self._stop(force=True)
            code = proc.returncode
            raise GenerationJobError(
                f"{label}: engine process exited with {code} while starting; last output:\n"
                + "\n".join(self._tail)
            )
        ready = json.loads(line)
        if not ready.get("ok"):
            self._stop(force=True)
            raise GenerationJobError(f"{label}: engine failed to start: {ready.get('error')}")
        startup = float(ready.get("startup_seconds") or 0.0)
        self.engine_facts = ready.get("engine")
        self._unreported = startup
        self.engine_starts += 1
        self.startup_seconds += startup
        self.spawn_seconds += time.perf_counter() - began
        return startup

    def _pump(self, proc: subprocess.Popen, label: str) -> None:
        assert proc.stdout is not None
        for line in proc.stdout:
            line = line.rstrip()
            self._tail = (self._tail + [line])[-40:]
            if " maga." in line:
                log.info("[%s] %s", label, line)

    @property
    def worker_pid(self) -> int | None:
        """The engine worker's pid (it leads its process group), while one runs."""
        return self._proc.pid if self._proc is not None else None

    def _stop(self, force: bool = False) -> None:
        """End the worker: ask it to close (unless ``force``), then kill its process group,
        so an engine core it left behind goes too."""
        proc, self._proc = self._proc, None
        if proc is None:
            return
        end_worker(proc, force)
        if self._reply is not None:
            self._reply.close()
            self._reply = None

    def close(self) -> None:
        """End the engine process and remove the exchange folder."""
        self._stop()
        self._tmp.cleanup()
