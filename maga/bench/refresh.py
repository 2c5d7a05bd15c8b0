"""``maga bench``: the corpus-refresh reformulation step measured in one run, on one
machine, one model and the same prompts.

1. A 1x shard (``--docs`` documents) and a ``--scale``x shard are each processed by a
   *task*: a child process running the four shard steps (gate, reformulate, clean,
   validate) with its own engine process, as one mapped Airflow task would. Its wall time
   and peak memory (task process and engine process, ``ru_maxrss``) are recorded.
2. A bare loop: a fresh engine (same model, engine settings and sampling) generates the
   large shard's rewrite requests, rebuilt from its staged GA chunks, with plain
   ``VLLMBackend.generate`` calls, chunk by chunk as the pipeline batches them and once
   as a single batch. The pipeline's rewrite-pass output tokens/s (the engine is warm
   from the GA pass; the bare engine gets one warm-up request) divided by the chunked
   bare loop's is the pipeline-overhead ratio (1.0: no overhead). On a machine shared
   with other jobs the figures move with the load; the load averages are printed.

The documents come from the built-in corpus; with the default tiny random model the
text is meaningless and only the speed and memory figures count.
"""

from __future__ import annotations

import json
import os
import platform
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from maga.log import get_logger

log = get_logger("bench")


def _peaks() -> dict[str, float]:
    """Peak resident memory (MiB) of this process and of its largest finished child."""
    return {
        "task_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "engine_mib": resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024,
    }


def _config(args: dict[str, Any]) -> Any:
    from maga.config import load_config

    return load_config(args["profile"], [f"storage.root={args['root']}",
                                         f"refresh.source_uri={args['source']}",
                                         *args["overrides"]])  # fmt: skip


def task_main(args: dict[str, Any]) -> dict[str, Any]:
    """Child process: one shard through gate, reformulate, clean and validate."""
    from maga.refresh.pipeline import DAG_ID, SHARD_STEPS, discover, run_shard_step
    from maga.runs.context import RunContext

    began = time.perf_counter()
    ctx = RunContext.create(_config(args), DAG_ID, args["run_id"])
    shard = discover(ctx)[0]
    seconds = {}
    for step in SHARD_STEPS:
        t0 = time.perf_counter()
        run_shard_step(ctx, step, shard)
        seconds[step] = round(time.perf_counter() - t0, 2)
    reform = ctx.storage.read_json(ctx.uri("shards", shard["key"], "reformulate.json"))["stats"]
    return {"wall_s": round(time.perf_counter() - began, 2), "step_seconds": seconds,
            "shard": shard, "reformulate": reform, "loadavg": round(os.getloadavg()[0], 2),
            **_peaks()}  # fmt: skip


def bare_main(args: dict[str, Any]) -> dict[str, Any]:
    """Child process: the same rewrite requests through a bare engine."""
    from maga.refresh.layout import shard_paths
    from maga.refresh.reformulate import iter_units, rewrite_requests
    from maga.storage import Storage

    cfg = _config(args)
    storage, paths = Storage(), shard_paths(cfg, args["shard"])
    chunks = []
    for k in range(args["chunks"]):
        units = list(iter_units(storage, paths, k, cfg))
        ga_rows = storage.read_json(paths.chunk("ga", k))["rows"]
        chunks.append(rewrite_requests(cfg, units, ga_rows)[1])
    from maga.llm.vllm_backend import VLLMBackend

    backend = VLLMBackend(
        args["model"], cfg.student_engine, seed=cfg.teacher.seed, deterministic=True
    )
    out = {}
    try:
        backend.generate(chunks[0][:1])  # warm-up, as the pipeline's engine is warm by now
        for mode, batches in (("chunked", chunks), ("one_batch", [sum(chunks, [])])):
            tokens, t0 = 0, time.perf_counter()
            for batch in batches:
                tokens += sum(r.completion_tokens for r in backend.generate(batch))
            wall = time.perf_counter() - t0
            out[mode] = {
                "completion_tokens": tokens,
                "seconds": round(wall, 3),
                "tokens_per_s": round(tokens / wall, 2) if wall else 0.0,
                "loadavg": round(os.getloadavg()[0], 2),
            }
    finally:
        backend.close()
    return {**out, "requests": sum(len(c) for c in chunks), **_peaks()}


def _child(mode: str, args: dict[str, Any], workdir: Path) -> dict[str, Any]:
    out = workdir / f"{mode}-{args.get('run_id', 'bare')}.json"
    cmd = [sys.executable, "-m", "maga.bench.refresh", mode, json.dumps(args), str(out)]
    began = time.perf_counter()
    proc = subprocess.run(cmd, env=dict(os.environ, PYTHONUNBUFFERED="1"))
    if proc.returncode != 0:
        raise RuntimeError(f"bench {mode} process failed with {proc.returncode}")
    result = json.loads(out.read_text())
    result["process_wall_s"] = round(time.perf_counter() - began, 2)
    return result


def run_bench(profile: str, overrides: list[str], docs: int = 8, scale: int = 10,
              out: str | None = None) -> dict[str, Any]:  # fmt: skip
    from maga.corpus.builtin import wiki_records
    from maga.models.builtin import resolve_model
    from maga.storage import Storage

    model = resolve_model("builtin:tiny-random")
    storage = Storage()
    with tempfile.TemporaryDirectory(prefix="maga-bench-") as tmp:
        work = Path(tmp)
        reg = work / "registry" / "tool_models"
        manifest = {"version": 1, "models": {r: {"uri": model} for r in
                                             ("ga_slm", "reformulation_slm")}}  # fmt: skip
        storage.write_json(str(reg / "v0001" / "manifest.json"), manifest)
        storage.write_json(
            str(reg / "latest.json"),
            {"version": 1, "manifest": str(reg / "v0001" / "manifest.json")},
        )
        pool = list(wiki_records(["en", "fr", "es"], None))
        extra = ["refresh.judge=reformulation_slm", *overrides]
        results = {}
        for name, n in (("1x", docs), (f"{scale}x", docs * scale)):
            src = work / "source" / f"{name}.jsonl"
            src.parent.mkdir(parents=True, exist_ok=True)
            with src.open("w") as fh:
                for i in range(n):
                    rec = pool[i % len(pool)]
                    fh.write(json.dumps({"id": f"{name}-{i}", "text": rec["text"],
                                         "lang": rec["lang"]}) + "\n")  # fmt: skip
            args = {"profile": profile, "root": str(work), "source": str(src),
                    "overrides": extra, "run_id": f"bench-{name}"}  # fmt: skip
            log.info("bench: task for the %s shard (%d documents)", name, n)
            results[name] = _child("task", args, work)
        big = results[f"{scale}x"]
        bare_args = {"profile": profile, "root": str(work), "source": big["shard"]["uri"],
                     "overrides": extra, "shard": big["shard"], "model": model,
                     "chunks": big["reformulate"]["chunks"]}  # fmt: skip
        log.info("bench: bare vLLM generate loop on the same rewrite requests")
        bare = _child("bare", bare_args, work)
    figures = _figures(profile, model, docs, scale, results, bare)
    _record(profile, overrides, model, results[f"{scale}x"], storage)
    print(render(figures))
    if out:
        Path(out).write_text(json.dumps(figures, indent=2))
    return figures


def _record(profile: str, overrides: list[str], model: str, big: dict, storage: Any) -> None:
    """The pipeline's reformulation throughput, for the cost plan of refresh runs here."""
    from maga.config import load_config
    from maga.hygiene.costplan import record_throughput

    m = big["reformulate"]["models"]["reform_slm"]
    record_throughput(storage, load_config(profile, overrides), source="maga bench", model=model,
                      completion_tokens=int(m["completion_tokens"]),
                      prompt_tokens=int(m.get("prompt_tokens", 0)),
                      seconds=float(m.get("wall_seconds") or 0.0))  # fmt: skip


def _figures(profile: str, model: str, docs: int, scale: int, results: dict,
             bare: dict) -> dict[str, Any]:  # fmt: skip
    big = results[f"{scale}x"]["reformulate"]["models"]["reform_slm"]
    pipeline_tps = big["completion_tokens_per_s"]
    return {
        "profile": profile, "model": model, "machine": f"{platform.machine()}, "
        f"{os.cpu_count()} CPUs", "docs_1x": docs, "scale": scale,
        "reformulation_tokens_per_s": {
            "pipeline": pipeline_tps, "bare_chunked": bare["chunked"]["tokens_per_s"],
            "bare_one_batch": bare["one_batch"]["tokens_per_s"],
            "pipeline_completion_tokens": big["completion_tokens"],
            "bare_completion_tokens": bare["chunked"]["completion_tokens"],
            "loadavg": {"pipeline": results[f"{scale}x"]["loadavg"],
                        "bare_chunked": bare["chunked"]["loadavg"],
                        "bare_one_batch": bare["one_batch"]["loadavg"]},
        },
        "pipeline_overhead_ratio": round(pipeline_tps / bare["chunked"]["tokens_per_s"], 3)
        if bare["chunked"]["tokens_per_s"] else None,
        "tasks": {name: {"docs": r["reformulate"]["docs"], "wall_s": r["process_wall_s"],
                         "engine_start_s": r["reformulate"]["engine_spawn_seconds"],
                         "step_seconds": r["step_seconds"], "task_peak_mib": round(r["task_mib"]),
                         "engine_peak_mib": round(r["engine_mib"])}
                  for name, r in results.items()},
    }  # fmt: skip


def render(f: dict[str, Any]) -> str:
    t = f["reformulation_tokens_per_s"]
    lines = [f"MAGA corpus-refresh benchmark: profile {f['profile']}, model {f['model']}, "
             f"{f['machine']}",
             f"reformulation output tokens/s ({t['pipeline_completion_tokens']} tokens): "
             f"pipeline {t['pipeline']:.1f} | bare vLLM loop, same chunks {t['bare_chunked']:.1f}"
             f" | bare, one batch {t['bare_one_batch']:.1f}",
             f"1-min load average while measured: {t['loadavg']} (other jobs skew the figures)",
             f"pipeline-overhead ratio (pipeline / bare same chunks): "
             f"{f['pipeline_overhead_ratio']}",
             "| shard | docs | wall s | engine start s | task peak MiB | engine peak MiB |",
             "|---|---:|---:|---:|---:|---:|"]  # fmt: skip
    for name, r in f["tasks"].items():
        lines.append(
            f"| {name} | {r['docs']} | {r['wall_s']} | {r['engine_start_s']} | "
            f"{r['task_peak_mib']} | {r['engine_peak_mib']} |"
        )
    return "\n".join(lines)


if __name__ == "__main__":
    mode, payload, result_path = sys.argv[1], json.loads(sys.argv[2]), sys.argv[3]
    result = task_main(payload) if mode == "task" else bare_main(payload)
    Path(result_path).write_text(json.dumps(result))
