"""Run a batch of generations against one model, the way every stage does it.

vLLM engines run in a child process (``python -m maga.llm.worker``): one engine per
process, freed when the process ends, so two stages never fight over memory even
inside one Airflow worker or ``dag.test()``. HTTP backends run in-process.
Progress (done, tokens/s, ETA) goes to the task log while the batch runs.
"""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterable, Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from maga.llm import facts as engine_facts
from maga.llm.base import Constraint, GenRequest, GenResult, LLMBackend, UsageCounter
from maga.llm.lifecycle import (
    LineReader,
    ReadTimeout,
    kill_group,
    timeout_setting,
    worker_popen_kwargs,
)
from maga.log import get_logger

log = get_logger("llm.jobs")

# Deadlines of reads from an engine worker (seconds; env vars override). Start-up covers
# a first download of the model into the hub cache and CUDA graph capture.
START_TIMEOUT_ENV = "MAGA_ENGINE_START_TIMEOUT_S"
REPLY_TIMEOUT_ENV = "MAGA_ENGINE_REPLY_TIMEOUT_S"  # one batch of a session
# Seconds between progress lines (requests done, tokens/s, ETA) while a stream runs.
PROGRESS_ENV, DEFAULT_PROGRESS_S = "MAGA_PROGRESS_EVERY_S", 30.0
IDLE_TIMEOUT_ENV = "MAGA_ENGINE_IDLE_TIMEOUT_S"  # one-shot job: longest silence
DEFAULT_START_TIMEOUT_S = 3600.0
DEFAULT_REPLY_TIMEOUT_S = 7200.0
DEFAULT_IDLE_TIMEOUT_S = 3600.0


@dataclass
class ModelSpec:
    """What to load: a resolved local model folder (vLLM) or a served model (HTTP).

    ``lora``: a LoRA adapter folder of the model at ``path`` (vLLM only; the engine
    settings must enable LoRA, ``engine["lora"]``). The engine is the base's: specs that
    differ only in their adapter share one engine, and each request carries its adapter.
    """

    label: str
    path: str
    backend: str = "vllm"
    engine: dict[str, Any] = field(default_factory=dict)
    http: dict[str, Any] = field(default_factory=dict)
    seed: int = 0
    lora: str | None = None


@dataclass
class BenchSpec:
    """Fixed-length decode benchmark run after the main batch (same engine)."""

    prompts: int = 16
    max_tokens: int = 64


@dataclass
class JobOutcome:
    results: list[GenResult]
    usage: UsageCounter
    startup_seconds: float = 0.0
    bench: dict[str, Any] | None = None


class GenerationJobError(RuntimeError):
    pass


def request_to_dict(req: GenRequest) -> dict[str, Any]:
    data = asdict(req)
    if req.constraint is not None:
        data["constraint"] = {
            "json_schema": req.constraint.json_schema,
            "choice": list(req.constraint.choice) if req.constraint.choice else None,
        }
    return data


def request_from_dict(data: dict[str, Any]) -> GenRequest:
    data = dict(data)
    c = data.pop("constraint", None)
    constraint = None
    if c:
        choice = tuple(c["choice"]) if c.get("choice") else None
        constraint = Constraint(json_schema=c.get("json_schema"), choice=choice)
    return GenRequest(constraint=constraint, **data)


def write_requests(path: Path, requests: list[GenRequest]) -> None:
    """The request file a vLLM worker process reads, one JSON object per line."""
    with path.open("w", encoding="utf-8") as fh:
        for req in requests:
            fh.write(json.dumps(request_to_dict(req), ensure_ascii=False) + "\n")


def read_results(path: Path) -> list[GenResult]:
    """The results a vLLM worker process wrote, in request order."""
    with path.open(encoding="utf-8") as fh:
        return [GenResult(**json.loads(line)) for line in fh]


def run_batches(
    backend: LLMBackend, requests: list[GenRequest], label: str, batch_size: int = 128
) -> tuple[list[GenResult], UsageCounter]:
    """Generate in chunks, logging progress with tokens/s and ETA after each chunk."""
    usage = UsageCounter()
    results: list[GenResult] = []
    total = len(requests)
    last_log = 0.0
    for start in range(0, total, batch_size):
        chunk = requests[start : start + batch_size]
        began = time.perf_counter()
        out = backend.generate(chunk)
        usage.add(out, time.perf_counter() - began)
        results.extend(out)
        done = len(results)
        now = time.monotonic()
        if done == total or now - last_log >= 30 or start == 0:
            rate = done / usage.seconds if usage.seconds else 0.0
            eta = (total - done) / rate if rate else 0.0
            log.info(
                "%s: %d/%d requests, %.1f completion tok/s, ETA %.0fs",
                label,
                done,
                total,
                usage.tokens_per_s,
                eta,
            )
            last_log = now
    return results, usage


def bench_requests(requests: list[GenRequest], bench: BenchSpec) -> list[GenRequest]:
    base = requests[: bench.prompts] or [
        GenRequest(messages=[{"role": "user", "content": "Write about the sea."}], max_tokens=1)
    ]
    return [
        GenRequest(
            messages=r.messages,
            max_tokens=bench.max_tokens,
            temperature=0.0,
            ignore_eos=True,
            key=f"bench-{i}",
        )
        for i, r in enumerate(base)
    ]


def bench_figures(results: list[GenResult], seconds: float) -> dict[str, Any]:
    tokens = sum(r.completion_tokens for r in results)
    return {
        "requests": len(results),
        "completion_tokens": tokens,
        "seconds": round(seconds, 3),
        "tokens_per_s": round(tokens / seconds, 2) if seconds > 0 else 0.0,
    }


def run_generation(
    spec: ModelSpec, requests: list[GenRequest], bench: BenchSpec | None = None
) -> JobOutcome:
    """``requests`` through the model of ``spec``: an engine process of its own, or one
    the runner keeps (:func:`keep_engines`); then the ``bench`` decode on that engine."""
    if spec.backend == "openai":
        return _run_http(spec, requests, bench)
    if spec.backend != "vllm":
        raise ValueError(f"unknown backend {spec.backend!r}")
    if _POOL is None:
        return _run_subprocess(spec, requests, bench)
    outcome = _POOL.generate(spec, requests)
    if bench:  # timed inside the engine process, like the one-shot worker's
        b = _POOL.generate(spec, bench_requests(requests, bench), one_call=True)
        outcome.bench = bench_figures(b.results, b.usage.seconds)
    return outcome


def _run_http(spec: ModelSpec, requests: list[GenRequest], bench: BenchSpec | None) -> JobOutcome:
    from maga.config import HTTPBackendConfig
    from maga.llm.connection import resolve_endpoint
    from maga.llm.http_backend import OpenAIHTTPBackend

    http = HTTPBackendConfig.model_validate(spec.http)
    backend = OpenAIHTTPBackend(
        resolve_endpoint(http),
        model=http.model or spec.path,
        concurrency=http.concurrency,
        timeout_s=http.timeout_s,
        max_retries=http.max_retries,
        backoff_s=http.backoff_s,
        chat_template_kwargs=http.chat_template_kwargs,
    )
    try:
        # Batches of several windows: a server with room for `concurrency` requests is
        # never held to one batch's stragglers (the barrier) more often than needed.
        results, usage = run_batches(backend, requests, spec.label, 4 * http.concurrency)
        figures = None
        if bench:
            began = time.perf_counter()
            out = backend.generate(bench_requests(requests, bench))
            figures = bench_figures(out, time.perf_counter() - began)
        return JobOutcome(results, usage, 0.0, figures)
    finally:
        backend.close()


def _run_subprocess(
    spec: ModelSpec, requests: list[GenRequest], bench: BenchSpec | None
) -> JobOutcome:
    with tempfile.TemporaryDirectory(prefix=f"maga-{spec.label}-") as tmp:
        job = Path(tmp)
        (job / "spec.json").write_text(json.dumps(asdict(spec)))
        if bench:
            (job / "bench.json").write_text(json.dumps(asdict(bench)))
        write_requests(job / "requests.jsonl", requests)
        cmd = [sys.executable, "-m", "maga.llm.worker", str(job)]
        log.info("%s: starting a vLLM engine process for %d requests", spec.label, len(requests))
        env = dict(os.environ, PYTHONUNBUFFERED="1", TOKENIZERS_PARALLELISM="false")
        proc = subprocess.Popen(
            cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, **worker_popen_kwargs(env)
        )
        tail: list[str] = []
        assert proc.stdout is not None
        reader = LineReader(proc.stdout.fileno())
        idle = timeout_setting(IDLE_TIMEOUT_ENV, DEFAULT_IDLE_TIMEOUT_S)
        try:
            while (line := reader.readline(idle, lambda: proc.poll() is None)) is not None:
                line = line.rstrip()
                tail = (tail + [line])[-40:]
                if " maga." in line:
                    log.info("[%s] %s", spec.label, line)
        except ReadTimeout as exc:
            kill_group(proc)
            raise GenerationJobError(
                f"{spec.label}: engine process silent for {idle:.0f}s ({IDLE_TIMEOUT_ENV}); "
                "killed it; last output:\n" + "\n".join(tail)
            ) from exc
        finally:
            kill_group(proc, grace_s=30)  # the worker and anything it left behind
            proc.stdout.close()
        code = proc.returncode
        meta_path = job / "meta.json"
        if code != 0 or not meta_path.exists():
            raise GenerationJobError(
                f"{spec.label}: engine process exited with {code}; last output:\n" + "\n".join(tail)
            )
        meta = json.loads(meta_path.read_text())
        results = read_results(job / "results.jsonl")
        usage = UsageCounter(**meta["usage"])
        engine_facts.note(spec.label, meta.get("engine"))
        return JobOutcome(results, usage, meta["startup_seconds"], meta.get("bench"))


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

    @staticmethod
    def _engine_key(spec: ModelSpec) -> str:
        """What the engine loads: the base model, engine settings and seed; never the
        adapter, which each request names (adapters of one base share the engine)."""
        return json.dumps([spec.path, spec.engine, spec.seed], sort_keys=True)

    def generate(
        self, spec: ModelSpec, requests: list[GenRequest], one_call: bool = False
    ) -> JobOutcome:
        """``requests`` through the engine, fed through its bounded window; ``one_call``
        hands them to one ``LLM.generate`` call instead (the benchmarks' reference: the
        usage's seconds are then that call's alone, timed in the engine process)."""
        if spec.backend == "openai":
            return _run_http(spec, requests, None)
        if spec.backend != "vllm":
            raise ValueError(f"unknown backend {spec.backend!r}")
        if not requests:
            return JobOutcome([], UsageCounter())
        key = self._engine_key(spec)
        if self._proc is None or key != self._key or self._proc.poll() is not None:
            self._start(spec)
        startup, self._unreported = self._unreported, 0.0
        engine_facts.note(spec.label, self.engine_facts)  # also a start made in advance
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
            raise GenerationJobError(
                f"{spec.label}: no reply from the engine process within "
                f"{self.reply_timeout_s:.0f}s ({REPLY_TIMEOUT_ENV}); killed it; last output:\n"
                + "\n".join(self._tail)
            ) from None
        if not line:
            self._stop(force=True)  # dead worker: kill what it left behind
            code = proc.returncode
            raise GenerationJobError(
                f"{spec.label}: engine process exited with {code}; last output:\n"
                + "\n".join(self._tail)
            )
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
                yield group, _run_http(spec, requests, None)
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
                for req in requests:
                    row = {"group": group, "request": request_to_dict(req)}
                    fh.write(json.dumps(row, ensure_ascii=False) + "\n")
        if not sent:
            req_path.unlink()
            return
        key = self._engine_key(spec)
        if self._proc is None or key != self._key or self._proc.poll() is not None:
            self._start(spec)
        startup, self._unreported = self._unreported, 0.0
        engine_facts.note(spec.label, self.engine_facts)
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
                    raise GenerationJobError(
                        f"{spec.label}: no reply from the engine process within "
                        f"{self.reply_timeout_s:.0f}s ({REPLY_TIMEOUT_ENV}); killed it; last "
                        "output:\n" + "\n".join(self._tail)
                    ) from None
                if not line:
                    proc.wait()
                    raise GenerationJobError(
                        f"{spec.label}: engine process exited with {proc.returncode}; last "
                        "output:\n" + "\n".join(self._tail)
                    )
                reply = json.loads(line)
                if not reply.get("ok"):
                    finished = True  # the worker stopped the stream and waits for commands
                    raise GenerationJobError(f"{spec.label}: {reply.get('error')}")
                if reply.get("done"):
                    finished = True
                    break
                if "progress" in reply:
                    _log_progress(spec.label, reply["progress"], total)
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
        read_fd, write_fd = os.pipe()
        cmd = [sys.executable, "-m", "maga.llm.worker", "--session", str(spec_path), str(write_fd)]
        log.info("%s: starting a vLLM engine process (session)", spec.label)
        began = time.perf_counter()
        env = dict(os.environ, PYTHONUNBUFFERED="1", TOKENIZERS_PARALLELISM="false")
        # Own session and process group; the worker and its engine core die with us.
        proc = subprocess.Popen(
            cmd,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            pass_fds=(write_fd,),
            **worker_popen_kwargs(env),
        )
        self._proc = proc
        os.close(write_fd)
        self._reply = LineReader(read_fd)
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
        grace = 0.0
        if proc.poll() is None and not force:
            try:
                assert proc.stdin is not None
                proc.stdin.write(json.dumps({"op": "close"}) + "\n")
                proc.stdin.close()
            except (BrokenPipeError, OSError):
                pass
            grace = 120.0
        kill_group(proc, grace_s=grace)
        if proc.stdin is not None:
            with contextlib.suppress(BrokenPipeError, OSError):
                proc.stdin.close()
        if self._reply is not None:
            self._reply.close()
            self._reply = None

    def close(self) -> None:
        """End the engine process and remove the exchange folder."""
        self._stop()
        self._tmp.cleanup()


class EnginePool:
    """Engines kept alive across the stages of one runner process.

    ``maga run`` and ``maga demo`` run every stage in one process. Inside
    :func:`keep_engines`, a stage that asks for an engine gets the one an earlier stage
    started for the same model, engine settings and seed, while it is kept: the teacher
    starts once for labeling, rewriting and every judge, not once per stage. At most
    ``keep`` engines live at once (each holds its weights and KV cache); starting one
    more ends the one used longest ago. Every engine is deterministic (per-request
    seeds), so a request's output does not depend on which stage started its engine.
    Airflow runs each task in a process of its own, with a pool of its own
    (``maga.pipelines.airflow_glue.with_task_engines``): engines a task needs together start
    side by side, and all end with the task.
    """

    def __init__(self, keep: int, deterministic: bool | None = None) -> None:
        if keep < 1:
            raise ValueError(f"an engine pool keeps at least 1 engine, got {keep}")
        self.keep = keep
        self.deterministic = deterministic
        self._sessions: dict[str, EngineSession] = {}  # least recently used first
        self._ended = {"engine_starts": 0, "startup_seconds": 0.0, "spawn_seconds": 0.0}
        self.reused = 0  # calls served by an engine an earlier call started

    def _total(self, name: str) -> Any:
        return self._ended[name] + sum(getattr(s, name) for s in self._sessions.values())

    @property
    def engine_starts(self) -> int:
        return self._total("engine_starts")

    @property
    def startup_seconds(self) -> float:
        return self._total("startup_seconds")

    @property
    def spawn_seconds(self) -> float:
        return self._total("spawn_seconds")

    def prepare(self, specs: list[ModelSpec]) -> None:
        """Start the engines of ``specs`` that are not running, side by side (most of a
        start is one process importing and allocating; two overlap well), so a stage
        that needs several models waits for the slowest start, not for their sum.
        Engines the pool cannot keep all at once are left to start when asked for."""
        todo: dict[str, ModelSpec] = {}
        for spec in specs:
            key = EngineSession._engine_key(spec)
            if spec.backend != "vllm" or key in todo:
                continue
            kept = self._sessions.get(key)
            if kept is None or kept.worker_pid is None:
                todo[key] = spec
        if len(todo) < 2 or len(todo) > self.keep:
            return
        launched = []
        for key, spec in todo.items():
            session = self.session_for(spec)  # evicts the least recently used if full
            session.launch(spec)
            launched.append((session, key))
        log.info("starting %d engines side by side: %s", len(launched),
                 ", ".join(s.label for s in todo.values()))  # fmt: skip
        failed = None
        for session, key in launched:
            try:
                session.wait_ready()
            except GenerationJobError as exc:  # the stage's own call reports it again
                failed = failed or exc
                self._end(key)
        if failed is not None:
            log.warning("an engine started side by side failed: %s", failed)

    def session_for(self, spec: ModelSpec) -> EngineSession:
        """The session holding ``spec``'s engine (started on its first call), now the most
        recently used; the least recently used one ends when the pool is full."""
        key = EngineSession._engine_key(spec)
        session = self._sessions.pop(key, None)
        if session is not None and session.worker_pid is not None:
            self.reused += 1
            log.info("%s: engine kept from an earlier call (%d of %d kept)", spec.label,
                     len(self._sessions) + 1, self.keep)  # fmt: skip
        elif session is None:
            while len(self._sessions) >= self.keep:
                self._end(next(iter(self._sessions)))
            session = EngineSession(deterministic=self.deterministic)
        self._sessions[key] = session
        return session

    def _end(self, key: str) -> None:
        session = self._sessions.pop(key)
        for name in self._ended:
            self._ended[name] += getattr(session, name)
        session.close()

    def generate(
        self, spec: ModelSpec, requests: list[GenRequest], one_call: bool = False
    ) -> JobOutcome:
        if spec.backend != "vllm":  # HTTP: no engine to keep
            return _run_http(spec, requests, None)
        return self.session_for(spec).generate(spec, requests, one_call)

    def stream(
        self, spec: ModelSpec, groups: Iterable[tuple[int, list[GenRequest]]]
    ) -> Iterator[tuple[int, JobOutcome]]:
        if spec.backend != "vllm":
            for group, requests in groups:
                yield group, _run_http(spec, requests, None)
            return
        yield from self.session_for(spec).stream(spec, groups)

    def close(self) -> None:
        """End every kept engine."""
        while self._sessions:
            self._end(next(iter(self._sessions)))


class PooledSession:
    """What a stage holds while a pool is active: the pool's calls and counters, and a
    ``close`` that leaves the engines to the pool (it ends them when its scope ends)."""

    def __init__(self, pool: EnginePool) -> None:
        self.pool = pool

    def __enter__(self) -> PooledSession:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def generate(
        self, spec: ModelSpec, requests: list[GenRequest], one_call: bool = False
    ) -> JobOutcome:
        return self.pool.generate(spec, requests, one_call)

    def stream(
        self, spec: ModelSpec, groups: Iterable[tuple[int, list[GenRequest]]]
    ) -> Iterator[tuple[int, JobOutcome]]:
        return self.pool.stream(spec, groups)

    @property
    def engine_starts(self) -> int:
        return self.pool.engine_starts

    @property
    def startup_seconds(self) -> float:
        return self.pool.startup_seconds

    @property
    def spawn_seconds(self) -> float:
        return self.pool.spawn_seconds

    def close(self) -> None:
        pass


_POOL: EnginePool | None = None


@contextlib.contextmanager
def keep_engines(keep: int, deterministic: bool | None = None) -> Iterator[EnginePool]:
    """Within this block, stages of this process share engines (:class:`EnginePool`);
    every engine ends when the block does. Inside an active block, the outer pool goes
    on serving (and keeps its size). Start it from the thread the stages run in: an
    engine process dies with the thread that started it (``lifecycle.py``)."""
    global _POOL
    if _POOL is not None:
        yield _POOL
        return
    pool = EnginePool(keep, deterministic)
    _POOL = pool
    try:
        yield pool
    finally:
        _POOL = None
        pool.close()


def accelerator_visible() -> bool:
    """A GPU this process can use: kept engines would hold memory a training stage needs
    there. On a CPU build engines and training share host memory, which
    ``runner.keep_engines`` sizes."""
    try:
        import torch
    except ImportError:
        return False
    return bool(torch.cuda.is_available())


def release_engines(why: str) -> None:
    """End every engine the active pool keeps (a later call starts what it needs again);
    nothing to do without a pool."""
    if _POOL is not None and _POOL._sessions:
        log.info("%s: ending %d kept engine(s) to free the accelerator", why,
                 len(_POOL._sessions))  # fmt: skip
        _POOL.close()


def _log_progress(label: str, p: dict[str, Any], total: int) -> None:
    """A stream's progress line in the task log: requests done, tokens/s, ETA."""
    done, seconds = int(p["done"]), float(p["seconds"]) or 1e-9
    eta = (total - done) * seconds / done if done else 0.0
    log.info("%s: %d/%d requests, %.1f completion tok/s, ETA %.0fs", label, done, total,
             p["completion_tokens"] / seconds, eta)  # fmt: skip


def prepare_engines(specs: list[ModelSpec]) -> None:
    """Start the engines a stage is about to use side by side, when the runner keeps
    engines (:meth:`EnginePool.prepare`); without a pool each starts when first used."""
    if _POOL is not None:
        _POOL.prepare(specs)


def default_deterministic() -> bool:
    """Reproducible engines unless a GPU is visible: on a CPU engine they cost nothing;
    on a GPU (vLLM 0.24) per-request seeds make the sampler loop over requests in Python
    and determinism runs the engine core in-process (docs/gpu-check.md measures both)."""
    return not accelerator_visible()


def open_session(deterministic: bool | None = None) -> EngineSession | PooledSession:
    """An engine session for one stage: the active pool's, else one of its own (the
    caller closes either way; closing a pooled one leaves its engines to the pool).
    ``deterministic``: ``runner.deterministic`` (None: :func:`default_deterministic`)."""
    return PooledSession(_POOL) if _POOL is not None else EngineSession(deterministic)
