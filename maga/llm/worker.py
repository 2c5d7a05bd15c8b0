"""Child process that owns one vLLM engine: ``python -m maga.llm.worker JOB_DIR``.

Reads ``spec.json`` and ``requests.jsonl`` from JOB_DIR, writes ``results.jsonl`` and
``meta.json`` (usage, engine start-up seconds, optional benchmark figures)."""

from __future__ import annotations

import json
import sys
import time
from dataclasses import asdict
from pathlib import Path

from maga.config import VLLMEngineConfig
from maga.llm.jobs import (
    BenchSpec,
    ModelSpec,
    bench_figures,
    bench_requests,
    request_from_dict,
    run_batches,
)
from maga.llm.vllm_backend import VLLMBackend
from maga.log import get_logger

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
    with (job / "results.jsonl").open("w", encoding="utf-8") as fh:
        for r in results:
            fh.write(json.dumps(asdict(r), ensure_ascii=False) + "\n")
    meta = {
        "usage": {
            "requests": usage.requests,
            "failed": usage.failed,
            "prompt_tokens": usage.prompt_tokens,
            "completion_tokens": usage.completion_tokens,
            "seconds": usage.seconds,
        },
        "startup_seconds": backend.startup_seconds,
        "bench": bench,
    }
    (job / "meta.json").write_text(json.dumps(meta))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
