"""Child process that owns one vLLM engine: ``python -m maga.llm.worker JOB_DIR``.

Reads ``spec.json`` and ``requests.jsonl`` from JOB_DIR, writes ``results.jsonl`` and
``meta.json`` (usage, engine start-up seconds, optional benchmark figures).

``python -m maga.llm.worker --session SPEC_JSON REPLY_FD`` keeps the engine for many
batches instead (see :class:`maga.llm.session.EngineSession`): one JSON command per stdin
line, one JSON reply per line on REPLY_FD, until ``close`` or the end of stdin.

Requests reach the engine through a bounded window (``engine.window``): a finished
request is replaced by the next at once, so the batch stays full across what the caller
sees as chunks. ``generate`` answers once for its whole batch; ``stream`` answers once
per group (a shard's chunk) as soon as that group's last request finishes."""

from __future__ import annotations

import json
import os
import sys
import time
from dataclasses import asdict
from pathlib import Path
from typing import Any

from maga.llm.lifecycle import check_task_alive, install_in_engine_process

# First thing, also in every process multiprocessing starts from this module (vLLM's
# engine core): die with the parent, so no engine outlives the task (lifecycle.py).
install_in_engine_process()

from maga.config import VLLMEngineConfig  # noqa: E402
from maga.llm.base import GenResult, UsageCounter  # noqa: E402
from maga.llm.jobs import (  # noqa: E402
    BenchSpec,
    ModelSpec,
    bench_figures,
    bench_requests,
)
from maga.llm.specs import read_requests, read_stream_rows, write_results  # noqa: E402
from maga.llm.vllm_backend import VLLMBackend  # noqa: E402
from maga.log import get_logger  # noqa: E402

log = get_logger("llm.worker")


def main(job_dir: str) -> int:
    job = Path(job_dir)
    spec = ModelSpec(**json.loads((job / "spec.json").read_text()))
    requests = read_requests(job / "requests.jsonl")
    engine = VLLMEngineConfig.model_validate(spec.engine)
    backend = VLLMBackend(spec.path, engine, seed=spec.seed)
    try:
        results, usage = feed(backend, requests, spec.label, engine.window, spec.lora)
        bench = None
        bench_file = job / "bench.json"
        if bench_file.exists():
            b = BenchSpec(**json.loads(bench_file.read_text()))
            began = time.perf_counter()
            out = backend.generate(bench_requests(requests, b), spec.lora)
            bench = bench_figures(out, time.perf_counter() - began)
            log.info("%s: benchmark %.1f tok/s", spec.label, bench["tokens_per_s"])
    finally:
        backend.close()
    write_results(job / "results.jsonl", results)
    meta = {
        # the UsageCounter's own fields: the parent rebuilds it with UsageCounter(**usage)
        "usage": asdict(usage),
        "startup_seconds": backend.startup_seconds,
        "bench": bench,
        "engine": backend.facts,
    }
    (job / "meta.json").write_text(json.dumps(meta))
    return 0


def feed(
    backend: VLLMBackend, requests: list, label: str, window: int, lora: str | None = None
) -> tuple[list[GenResult], UsageCounter]:
    """Results in request order, the engine fed through a window of ``window`` (through
    the LoRA adapter folder ``lora`` when one is given)."""
    results: list[GenResult | None] = [None] * len(requests)
    usage, began, last_log = UsageCounter(), time.perf_counter(), time.monotonic()
    stream = backend.stream(enumerate(requests), window, lora)
    for done, (i, res) in enumerate(stream, 1):
        results[i] = res
        if time.monotonic() - last_log >= 30 and done < len(requests):
            last_log = time.monotonic()
            log.info("%s: %d/%d requests", label, done, len(requests))
    ordered = [r for r in results if r is not None]
    usage.add(ordered, time.perf_counter() - began)
    log.info("%s: %d requests, %.1f completion tok/s", label, len(ordered), usage.tokens_per_s)
    return ordered, usage


def _grouped(path: str, pending: dict[int, dict]) -> Any:
    """``((group, index), request)`` from a stream request file, read lazily; notes each
    group's size in ``pending`` once the reader has moved past it."""
    current = None
    for group, request in read_stream_rows(path):
        if group != current:
            if current is not None:
                pending[current]["size"] = pending[current]["seen"]
            if group in pending:
                raise ValueError(f"stream request file: group {group} is not contiguous")
            current = group
            pending[group] = {"seen": 0, "size": None, "results": {}}
        idx = pending[group]["seen"]
        pending[group]["seen"] += 1
        yield (group, idx), request
    if current is not None:
        pending[current]["size"] = pending[current]["seen"]


def stream_groups(backend: VLLMBackend, cmd: dict, window: int, answer: Any) -> None:
    """Serve one ``stream`` command: write ``<results_dir>/group-<k>.jsonl`` and answer
    ``{"group": k, ...}`` for each group as soon as it is complete, then ``done``."""
    pending: dict[int, dict] = {}
    out_dir = Path(cmd["results_dir"])
    last = began = time.perf_counter()
    every_s, reported = float(cmd.get("progress_every_s") or 0), time.perf_counter()
    n_done = tokens = 0

    def flush() -> None:
        nonlocal last
        for group in [g for g, p in pending.items() if p["size"] == len(p["results"])]:
            p = pending.pop(group)
            results = [p["results"][i] for i in range(p["size"])]
            now = time.perf_counter()
            usage = UsageCounter()
            usage.add(results, now - last)  # time since the previous group finished
            last = now
            path = out_dir / f"group-{group}.jsonl"
            write_results(path, results)
            answer({"ok": True, "group": group, "results": str(path), "usage": asdict(usage)})

    source = _grouped(cmd["requests"], pending)
    for (group, idx), res in backend.stream(source, window, cmd.get("lora")):
        pending[group]["results"][idx] = res
        n_done, tokens = n_done + 1, tokens + res.completion_tokens
        now = time.perf_counter()
        if every_s and now - reported >= every_s:  # by time: a stage of one group logs too
            reported = now
            answer({"ok": True, "progress": {"done": n_done, "completion_tokens": tokens,
                                             "seconds": round(now - began, 3)}})  # fmt: skip
        flush()
    flush()  # groups whose size became known only at the end of the file
    answer({"ok": True, "done": True})


def session(spec_file: str, reply_fd: int) -> int:
    """Serve ``generate`` commands with one engine until ``close`` or end of input."""
    import traceback

    reply = os.fdopen(reply_fd, "w", encoding="utf-8")

    def answer(obj: dict) -> None:
        reply.write(json.dumps(obj) + "\n")
        reply.flush()

    data = json.loads(Path(spec_file).read_text())
    deterministic = bool(data.pop("deterministic", True))
    seeds = data.pop("seeds", None)
    spec = ModelSpec(**data)
    try:
        engine = VLLMEngineConfig.model_validate(spec.engine)
        backend = VLLMBackend(spec.path, engine, seed=spec.seed, deterministic=deterministic,
                              seeds=seeds)  # fmt: skip
    except Exception as exc:
        answer({"ok": False, "error": f"{type(exc).__name__}: {exc}"})
        raise
    answer({"ok": True, "startup_seconds": backend.startup_seconds, "engine": backend.facts})
    try:
        for line in sys.stdin:
            cmd = json.loads(line)
            if cmd.get("op") == "close":
                break
            try:
                if cmd.get("op") == "stream":
                    stream_groups(backend, cmd, engine.window, answer)
                    continue
                requests = read_requests(cmd["requests"])
                label = cmd.get("label", spec.label)
                if cmd.get("one_call"):  # one LLM.generate over all: a benchmark's reference
                    began = time.perf_counter()
                    results, usage = backend.generate(requests, cmd.get("lora")), UsageCounter()
                    usage.add(results, time.perf_counter() - began)
                else:
                    results, usage = feed(backend, requests, label, engine.window, cmd.get("lora"))
                write_results(Path(cmd["results"]), results)
                answer({"ok": True, "usage": asdict(usage)})
            except Exception as exc:  # the parent raises it with this text
                answer({"ok": False, "error": "".join(traceback.format_exception_only(exc))})
    finally:
        backend.close()
    return 0


if __name__ == "__main__":
    check_task_alive()
    if sys.argv[1] == "--session":
        sys.exit(session(sys.argv[2], int(sys.argv[3])))
    sys.exit(main(sys.argv[1]))
