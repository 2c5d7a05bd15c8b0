"""Child process that owns one vLLM engine: ``python -m maga.llm.worker JOB_DIR``.

Reads ``spec.json`` and ``requests.jsonl`` from JOB_DIR, writes ``results.jsonl`` and
``meta.json`` (usage, engine start-up seconds, optional benchmark figures).

``python -m maga.llm.worker --session SPEC_JSON REPLY_FD`` keeps the engine for many
batches instead (see :class:`maga.llm.jobs.EngineSession`): one JSON command per stdin
line, one JSON reply per line on REPLY_FD, until ``close`` or the end of stdin."""

from __future__ import annotations

import json
import os
import sys
import time
from dataclasses import asdict
from pathlib import Path

from maga.llm.lifecycle import check_task_alive, install_in_engine_process

# First thing, also in every process multiprocessing starts from this module (vLLM's
# engine core): die with the parent, so no engine outlives the task (lifecycle.py).
install_in_engine_process()

from maga.config import VLLMEngineConfig  # noqa: E402
from maga.llm.jobs import (  # noqa: E402
    BenchSpec,
    ModelSpec,
    bench_figures,
    bench_requests,
    request_from_dict,
    run_batches,
)
from maga.llm.vllm_backend import VLLMBackend  # noqa: E402
from maga.log import get_logger  # noqa: E402

log = get_logger("llm.worker")


def main(job_dir: str) -> int:
    job = Path(job_dir)
    spec = ModelSpec(**json.loads((job / "spec.json").read_text()))
    with (job / "requests.jsonl").open(encoding="utf-8") as fh:
        requests = [request_from_dict(json.loads(line)) for line in fh]
    engine = VLLMEngineConfig.model_validate(spec.engine)
    backend = VLLMBackend(spec.path, engine, seed=spec.seed)
    try:
        results, usage = run_batches(backend, requests, spec.label)
        bench = None
        bench_file = job / "bench.json"
        if bench_file.exists():
            b = BenchSpec(**json.loads(bench_file.read_text()))
            began = time.perf_counter()
            out = backend.generate(bench_requests(requests, b))
            bench = bench_figures(out, time.perf_counter() - began)
            log.info("%s: benchmark %.1f tok/s", spec.label, bench["tokens_per_s"])
    finally:
        backend.close()
    _write_results(job / "results.jsonl", results)
    meta = {
        # the UsageCounter's own fields: the parent rebuilds it with UsageCounter(**usage)
        "usage": asdict(usage),
        "startup_seconds": backend.startup_seconds,
        "bench": bench,
    }
    (job / "meta.json").write_text(json.dumps(meta))
    return 0


def _write_results(path: Path, results: list) -> None:
    with path.open("w", encoding="utf-8") as fh:
        for r in results:
            fh.write(json.dumps(asdict(r), ensure_ascii=False) + "\n")


def session(spec_file: str, reply_fd: int) -> int:
    """Serve ``generate`` commands with one engine until ``close`` or end of input."""
    import traceback

    reply = os.fdopen(reply_fd, "w", encoding="utf-8")

    def answer(obj: dict) -> None:
        reply.write(json.dumps(obj) + "\n")
        reply.flush()

    data = json.loads(Path(spec_file).read_text())
    deterministic = bool(data.pop("deterministic", True))
    spec = ModelSpec(**data)
    try:
        engine = VLLMEngineConfig.model_validate(spec.engine)
        backend = VLLMBackend(spec.path, engine, seed=spec.seed, deterministic=deterministic)
    except Exception as exc:
        answer({"ok": False, "error": f"{type(exc).__name__}: {exc}"})
        raise
    answer({"ok": True, "startup_seconds": backend.startup_seconds})
    try:
        for line in sys.stdin:
            cmd = json.loads(line)
            if cmd.get("op") == "close":
                break
            try:
                with open(cmd["requests"], encoding="utf-8") as fh:
                    requests = [request_from_dict(json.loads(row)) for row in fh]
                results, usage = run_batches(backend, requests, cmd.get("label", spec.label))
                _write_results(Path(cmd["results"]), results)
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
