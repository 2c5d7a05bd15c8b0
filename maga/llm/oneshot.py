"""One batch of generations, start to end: an HTTP backend in this process
(:func:`run_http`), or a vLLM engine in a child process of its own that ends with the
batch (:func:`run_subprocess`, ``python -m maga.llm.worker``).

:func:`maga.llm.pool.run_generation` picks between them and a kept engine.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict
from pathlib import Path

from maga.llm import facts as engine_facts
from maga.llm.base import GenRequest, GenResult, LLMBackend, UsageCounter
from maga.llm.lifecycle import (
    LineReader,
    ReadTimeout,
    kill_group,
    timeout_setting,
    worker_popen_kwargs,
)
from maga.llm.specs import (
    BenchSpec,
    GenerationJobError,
    JobOutcome,
    ModelSpec,
    bench_figures,
    bench_requests,
    read_results,
    write_requests,
)
from maga.log import get_logger

# The job machinery's one logger, as before it was split into modules (task logs name it).
log = get_logger("llm.jobs")

IDLE_TIMEOUT_ENV = "MAGA_ENGINE_IDLE_TIMEOUT_S"  # one-shot job: longest silence
DEFAULT_IDLE_TIMEOUT_S = 3600.0


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


def run_http(spec: ModelSpec, requests: list[GenRequest], bench: BenchSpec | None) -> JobOutcome:
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


def run_subprocess(
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
