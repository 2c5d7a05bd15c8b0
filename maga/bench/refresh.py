"""``maga bench``: the corpus stage against the best plain use of vLLM, side by side.

Each repeat (``--repeats``, 3 by default) uses a fresh storage root, so nothing staged
is reused, and measures in this order:

1. *Tasks*: a 1x shard (``--docs`` documents) and a ``--scale``x shard (with ``--scale
   1`` the one shard, once: the suite's tiny run), each run by a child process
   through gate, reformulate, clean and validate, one fresh engine session per step as
   Airflow runs them (one mapped task per step). Recorded: wall time, engine starts per
   step, peak resident memory of the task process and of its largest engine process
   (``ru_maxrss``). On the large shard's engine, now warm, the
   rewrite pass is then repeated ``WARM_ROUNDS`` times through the pipeline's resume
   path (chunks removed and regenerated; the rows must come out byte-identical),
   interleaved with one ``LLM.generate`` call over the same prompts on that engine.
2. *Bare vLLM* on the large shard's rewrite requests (rebuilt from its staged GA rows,
   so the same prompts and sampling), one fresh engine, after a one-request warm-up:
   ``one_batch_cold`` (one ``LLM.generate`` call over all prompts, the engine's first
   pass over them: what a plain user gets, and the reference), then, timed round-robin
   ``ROUNDS`` times on the warm engine, ``one_batch`` (the same call again),
   ``windowed`` (the worker's bounded-window feed), ``chunked`` (one call per pipeline
   chunk, as the stage used to feed it) and ``unseeded`` (one call, per-request seeds
   dropped: what seeding costs).

The pipeline's figure is its rewrite pass: output tokens over the pass's wall time
(request files, result files and chunk writes included). Two ratios are printed, each
taken within one repeat and summarised as median [min, max]. The target is the warm
one: the repeated pipeline passes over the interleaved ``generate`` calls, same engine
and load, which is the pipeline's own overhead. The other is the first pass of each
(pipeline over ``one_batch_cold``): both pay the engine's warm-up, about 0.6-0.9 s of
slower steps on vLLM's CPU build the first time batch shapes are met, which is a fifth
of a 4 s pass here and noise on a long shard; the pipeline's engine has also run the
GA pass, the bare one a single request. On a
shared machine the load moves every figure, so only ratios measured in one repeat are
compared, and the load averages are printed. The median pipeline figure is appended to
the throughput store (:mod:`maga.throughput`).

The documents come from the built-in corpus; with the default tiny random model the
text is meaningless and only the speed and memory figures count.
"""

from __future__ import annotations

import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from maga import throughput
from maga.log import get_logger
from maga.refresh.costplan import student_precision

log = get_logger("bench")
ROUNDS = 2  # bare-engine modes are timed round-robin this many times
WARM_ROUNDS = 3  # pipeline pass / one generate call pairs on the task's warm engine


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
    """Child process: one shard through gate, reformulate, clean and validate, one
    engine session per step (each step is its own Airflow task)."""
    from maga.llm.jobs import EngineSession
    from maga.refresh.pipeline import DAG_ID, SHARD_STEPS, discover, run_shard_step
    from maga.runs.context import RunContext

    began = time.perf_counter()
    ctx = RunContext.create(_config(args), DAG_ID, args["run_id"])
    shard = discover(ctx)[0]
    seconds, starts = {}, {}
    warm: dict[str, Any] = {}
    for step in SHARD_STEPS:
        t0 = time.perf_counter()
        with EngineSession() as session:
            run_shard_step(ctx, step, shard, session)
            starts[step] = session.engine_starts
            if step == "reformulate_shard" and args.get("warm_pass"):
                warm = warm_rewrite_pass(ctx, shard, session)
        seconds[step] = round(time.perf_counter() - t0, 2)
    reform = ctx.storage.read_json(ctx.uri("shards", shard["key"], "reformulate.json"))["stats"]
    return {"wall_s": round(time.perf_counter() - began, 2), "step_seconds": seconds,
            "engine_starts": starts, "shard": shard, "reformulate": reform, "warm": warm,
            "loadavg": round(os.getloadavg()[0], 2), **_peaks()}  # fmt: skip


def staged_rewrite_requests(storage: Any, paths: Any, cfg: Any, chunks: int) -> list[list]:
    """Each chunk's rewrite requests, rebuilt from its staged units and GA rows, as the
    stage builds them (same prompts, sampling and seeds)."""
    from maga.refresh.reformulate import iter_units, rewrite_requests

    return [rewrite_requests(cfg, list(iter_units(storage, paths, k, cfg)),
                             storage.read_json(paths.chunk("ga", k))["rows"])[1]
            for k in range(chunks)]  # fmt: skip


def warm_rewrite_pass(
    ctx: Any, shard: dict[str, Any], session: Any, rounds: int = WARM_ROUNDS
) -> dict[str, Any]:
    """The pipeline's rewrite pass against one ``LLM.generate`` call over the same
    prompts, interleaved on the engine that has just run the shard (now warm), so both
    arms meet the same engine state and machine load. The pipeline arm removes the
    staged rewrite chunks and regenerates them through the step's own code (a resume;
    its rows must equal the first pass's, byte for byte) and is timed as the stage
    times itself, files included; the reference is timed inside the engine process
    around the ``generate`` call alone. The order alternates from round to round."""
    from maga.refresh.layout import shard_paths
    from maga.refresh.reformulate import REFORMULATE, model_specs
    from maga.runs.stage import ShardWork, staged

    storage, cfg, paths = ctx.storage, ctx.config, shard_paths(ctx.config, shard)
    gate = staged(storage, paths, "gate")
    first = {k: json.dumps(storage.read_json(paths.chunk("gen", k))["rows"], sort_keys=True)
             for k in range(gate["chunks"])}  # fmt: skip
    every = [r for c in staged_rewrite_requests(storage, paths, cfg, gate["chunks"]) for r in c]
    spec = model_specs(ctx)["reformulation_slm"]
    per_round = []
    for i in range(rounds):
        got: dict[str, tuple[int, float]] = {}
        for arm in ("pipeline", "one_call") if i % 2 == 0 else ("one_call", "pipeline"):
            if arm == "pipeline":
                for k in first:
                    storage.delete(paths.chunk("gen", k))
                stats = REFORMULATE.work(ShardWork(ctx, shard, paths, {"gate": gate}, session))
                m = stats["models"]["reform_slm"]
                got[arm] = (m["completion_tokens"], m["wall_seconds"])
                for k, rows in first.items():
                    again = storage.read_json(paths.chunk("gen", k))["rows"]
                    if json.dumps(again, sort_keys=True) != rows:
                        raise RuntimeError(f"bench: the repeated rewrite pass changed chunk {k}")
            else:
                usage = session.generate(spec, every, one_call=True).usage
                got[arm] = (usage.completion_tokens, usage.seconds)
        per_round.append({a: {"completion_tokens": t, "seconds": round(w, 3),
                              "tokens_per_s": round(t / w, 2)} for a, (t, w) in got.items()})  # fmt: skip
    sums = {a: [sum(r[a][f] for r in per_round) for f in ("completion_tokens", "seconds")]
            for a in ("pipeline", "one_call")}  # fmt: skip
    return {"rounds": per_round, "byte_identical": True,
            "seconds": round(sum(r[a]["seconds"] for r in per_round for a in r), 2),
            **{a: {"completion_tokens": t, "seconds": round(w, 3),
                   "tokens_per_s": round(t / w, 2)} for a, (t, w) in sums.items()}}  # fmt: skip


def bare_main(args: dict[str, Any]) -> dict[str, Any]:
    """Child process: the same rewrite requests through a bare engine."""
    from dataclasses import replace

    from maga.llm.vllm_backend import VLLMBackend
    from maga.refresh.layout import shard_paths
    from maga.storage import Storage

    cfg = _config(args)
    storage, paths = Storage(), shard_paths(cfg, args["shard"])
    chunks = staged_rewrite_requests(storage, paths, cfg, args["chunks"])
    every = [r for c in chunks for r in c]
    modes = {"one_batch": [every], "chunked": [c for c in chunks if c],
             "unseeded": [[replace(r, seed=None) for r in every]]}  # fmt: skip
    backend = VLLMBackend(
        args["model"], cfg.student_engine, seed=cfg.teacher.seed, deterministic=True
    )
    window = cfg.student_engine.window
    totals = {m: [0, 0.0] for m in (*modes, "windowed")}
    out: dict[str, Any] = {}
    try:
        backend.generate(every[:1])  # one request: the engine is up and has run once
        # The reference: a fresh engine handed every prompt in one call, timed once, as
        # a plain user would run it (its first pass pays the engine's warm-up).
        t0 = time.perf_counter()
        got = backend.generate(every)
        wall = time.perf_counter() - t0
        tokens = sum(r.completion_tokens for r in got)
        out["one_batch_cold"] = {"completion_tokens": tokens, "seconds": round(wall, 3),
                                 "tokens_per_s": round(tokens / wall, 2),
                                 "loadavg": round(os.getloadavg()[0], 2)}  # fmt: skip
        # Round-robin, ROUNDS times: load that drifts over minutes then weighs on every
        # mode alike, instead of on whichever ran last.
        for _ in range(ROUNDS):
            for mode in ("one_batch", "windowed", "chunked", "unseeded"):
                t0 = time.perf_counter()
                if mode == "windowed":  # as the pipeline's worker feeds the engine
                    got = [r for _, r in backend.stream(enumerate(every), window)]
                else:
                    got = [r for batch in modes[mode] for r in backend.generate(batch)]
                totals[mode][0] += sum(r.completion_tokens for r in got)
                totals[mode][1] += time.perf_counter() - t0
        for mode, (tokens, wall) in totals.items():
            out[mode] = {"completion_tokens": tokens, "seconds": round(wall, 3),
                         "tokens_per_s": round(tokens / wall, 2) if wall else 0.0,
                         "rounds": ROUNDS, "loadavg": round(os.getloadavg()[0], 2)}  # fmt: skip
        out["windowed"]["window"] = window
    finally:
        backend.close()
    return {**out, "requests": len(every), **_peaks()}


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


def _registry(storage: Any, root: Path, model: str) -> None:
    from maga.registry.manifest import (
        ROLES,
        RegisteredModel,
        ToolModelsManifest,
        registry_root,
        write_version,
    )

    served = {r: RegisteredModel(uri=model) for r in ROLES}
    write_version(storage, registry_root(str(root)), ToolModelsManifest(version=1, models=served))


def run_bench(profile: str, overrides: list[str], docs: int = 8, scale: int = 10,
              out: str | None = None, repeats: int = 3,
              record_to: str | None = None) -> dict[str, Any]:  # fmt: skip
    """``record_to``: storage root whose throughput store (:mod:`maga.throughput`) gets the result
    (default: the profile's ``storage.root``)."""
    from maga.config import load_config
    from maga.corpus.builtin import wiki_records
    from maga.models.builtin import resolve_model
    from maga.storage import Storage

    if repeats < 1 or docs < 1 or scale < 1:
        raise ValueError("bench: --repeats, --docs and --scale must be at least 1")
    cfg = load_config(profile, list(overrides))  # fails early on a bad profile or override
    model = resolve_model("builtin:tiny-random")
    storage = Storage()
    pool = list(wiki_records(["en", "fr", "es"], None))
    extra = ["refresh.judge=reformulation_slm", *overrides]
    # --scale 1: the two shards would be the same; one task measures it (memory growth 1)
    sizes = (("1x", docs),) if scale == 1 else (("1x", docs), (f"{scale}x", docs * scale))
    runs = []
    with tempfile.TemporaryDirectory(prefix="maga-bench-") as tmp:
        for rep in range(repeats):
            work = Path(tmp) / f"r{rep}"
            _registry(storage, work, model)
            results = {}
            for name, n in sizes:
                src = work / "source" / f"{name}.jsonl"
                src.parent.mkdir(parents=True, exist_ok=True)
                with src.open("w") as fh:
                    for i in range(n):
                        rec = pool[i % len(pool)]
                        fh.write(json.dumps({"id": f"{name}-{i}", "text": rec["text"],
                                             "lang": rec["lang"]}) + "\n")  # fmt: skip
                args = {"profile": profile, "root": str(work), "source": str(src),
                        "overrides": extra, "run_id": f"bench-{name}"}  # fmt: skip
                log.info("bench %d/%d: task for the %s shard (%d documents)",
                         rep + 1, repeats, name, n)  # fmt: skip
                args["warm_pass"] = n == docs * scale  # the large shard's pass, repeated warm
                results[name] = _child("task", args, work)
            big = results[f"{scale}x"]
            bare_args = {"profile": profile, "root": str(work), "source": big["shard"]["uri"],
                         "overrides": extra, "shard": big["shard"], "model": model,
                         "chunks": big["reformulate"]["chunks"]}  # fmt: skip
            log.info("bench %d/%d: bare vLLM on the same rewrite requests", rep + 1, repeats)
            runs.append({"tasks": results, "bare": _child("bare", bare_args, work)})
    figures = _figures(profile, model, docs, scale, runs)
    print(render(figures))
    root = record_to or resolve_root_of(cfg)
    figures["recorded_to"] = throughput.record(
        {"hardware": throughput.hardware(), "model": model, "profile": profile,
         "source": "maga bench (corpus stage, rewrite pass, CPU)",
         "precision": student_precision(cfg),
         "tokens_per_s": figures["tokens_per_s"]["pipeline"]["median"],
         "bare_one_batch_tokens_per_s": figures["tokens_per_s"]["bare_one_batch"]["median"],
         "ratio_pipeline_one_batch": figures["ratios"]["pipeline_one_batch"]["median"],
         "loaded_machine_loadavg": figures["loadavg_max"]}, root)  # fmt: skip
    print(f"throughput recorded in {figures['recorded_to']}")
    if out:
        Path(out).write_text(json.dumps(figures, indent=2))
    return figures


def resolve_root_of(cfg: Any) -> str:
    from maga.runs.context import resolve_root

    return resolve_root(cfg.storage.root)


def spread(values: list[float]) -> dict[str, float]:
    """Median, min and max (the spread) of repeated figures."""
    if not values:
        raise ValueError("spread of no values")
    return {"median": round(statistics.median(values), 3), "min": round(min(values), 3),
            "max": round(max(values), 3), "n": len(values)}  # fmt: skip


def _figures(profile: str, model: str, docs: int, scale: int, runs: list[dict]) -> dict[str, Any]:
    """Ratios are taken within each repeat (same machine state), then summarised.

    ``pipeline_one_batch``: the pipeline's rewrite pass (the first on its shard task's
    engine) over a fresh bare engine's one ``generate`` call over the same prompts (its
    first pass too). ``pipeline_warm_one_batch``: the pipeline's pass repeated on its
    warm engine over one ``generate`` call interleaved on that same engine: the
    pipeline's own overhead once the engine's warm-up is out of both."""
    big_name = f"{scale}x"
    tps: dict[str, list[float]] = {k: [] for k in (
        "pipeline", "pipeline_warm", "one_call_same_engine", "bare_one_batch_cold", "bare_one_batch", "bare_windowed",
        "bare_chunked", "bare_unseeded")}  # fmt: skip
    ratios: dict[str, list[float]] = {k: [] for k in (
        "pipeline_one_batch", "pipeline_warm_one_batch", "windowed_one_batch",
        "chunked_one_batch", "seeded_unseeded")}  # fmt: skip
    tokens, loads, per_repeat = [], [], []
    for run in runs:
        task, bare = run["tasks"][big_name], run["bare"]
        pipe = task["reformulate"]["models"]["reform_slm"]["completion_tokens_per_s"]
        one = bare["one_batch"]["tokens_per_s"]  # warm: summed over the timed rounds
        cold = bare.get("one_batch_cold", bare["one_batch"])["tokens_per_s"]
        tps["pipeline"].append(pipe)
        tps["bare_one_batch_cold"].append(cold)
        tps["bare_one_batch"].append(one)
        ratios["pipeline_one_batch"].append(pipe / cold)
        same = task.get("warm") or {}  # interleaved on the task's own warm engine
        warm = same.get("pipeline", {}).get("tokens_per_s")
        same_one = same.get("one_call", {}).get("tokens_per_s")
        if warm and same_one:
            tps["pipeline_warm"].append(warm)
            tps["one_call_same_engine"].append(same_one)
            ratios["pipeline_warm_one_batch"].append(warm / same_one)
        windowed = bare.get("windowed", {}).get("tokens_per_s")
        if windowed:  # the worker's feeding, measured right after one_batch, same engine
            tps["bare_windowed"].append(windowed)
            ratios["windowed_one_batch"].append(windowed / one)
        tps["bare_chunked"].append(bare["chunked"]["tokens_per_s"])
        tps["bare_unseeded"].append(bare["unseeded"]["tokens_per_s"])
        ratios["chunked_one_batch"].append(bare["chunked"]["tokens_per_s"] / one)
        ratios["seeded_unseeded"].append(one / bare["unseeded"]["tokens_per_s"])
        tokens.append({"pipeline": task["reformulate"]["models"]["reform_slm"]["completion_tokens"],
                       "bare": bare["one_batch"]["completion_tokens"]})  # fmt: skip
        here = [task["loadavg"],
                *(bare[m]["loadavg"] for m in ("one_batch", "chunked", "unseeded"))]  # fmt: skip
        loads += here
        per_repeat.append({"pipeline_tokens_per_s": pipe, "one_batch_cold_tokens_per_s": cold,
                           "ratio": round(pipe / cold, 3),
                           "pipeline_warm_tokens_per_s": warm, "one_batch_tokens_per_s": one,
                           "one_call_same_engine_tokens_per_s": same_one,
                           "ratio_warm": round(warm / same_one, 3) if warm and same_one else None,
                           "loadavg_max": max(here)})  # fmt: skip
    tasks = {}
    for name in runs[0]["tasks"]:
        rs = [run["tasks"][name] for run in runs]
        tasks[name] = {
            "docs": rs[0]["reformulate"]["docs"],
            # the warm repeat of the rewrite pass is the bench's, not the task's
            "wall_s": spread(
                [
                    round(r["process_wall_s"] - (r.get("warm") or {}).get("seconds", 0), 2)
                    for r in rs
                ]
            ),
            "engine_starts": rs[0]["engine_starts"],
            "engine_starts_total": sum(rs[0]["engine_starts"].values()),
            "engine_start_s": spread([r["reformulate"]["engine_spawn_seconds"] for r in rs]),
            "task_peak_mib": spread([round(r["task_mib"]) for r in rs]),
            "engine_peak_mib": spread([round(r["engine_mib"]) for r in rs]),
        }
    small, big = tasks[next(iter(tasks))], tasks[big_name]
    return {
        "profile": profile, "model": model, "hardware": throughput.hardware(),
        "docs_1x": docs, "scale": scale, "repeats": len(runs), "completion_tokens": tokens,
        "tokens_per_s": {k: spread(v) for k, v in tps.items() if v},
        "ratios": {k: spread(v) for k, v in ratios.items() if v},
        "memory_growth_10x_over_1x": {
            "task": round(big["task_peak_mib"]["median"] / small["task_peak_mib"]["median"], 3),
            "engine": round(big["engine_peak_mib"]["median"]
                            / small["engine_peak_mib"]["median"], 3)},
        "loadavg_max": max(loads), "tasks": tasks, "per_repeat": per_repeat,
    }  # fmt: skip


def fmt_spread(s: dict[str, float], digits: int = 3) -> str:
    """``median [min, max]`` of a :func:`spread`."""
    return f"{s['median']:.{digits}f} [{s['min']:.{digits}f}, {s['max']:.{digits}f}]"


def render(f: dict[str, Any]) -> str:
    t, r, hw = f["tokens_per_s"], f["ratios"], f["hardware"]
    lines = [f"MAGA corpus-stage benchmark: profile {f['profile']}, model {f['model']}",
             f"machine: {hw['cpu_model']}, {hw['cpu_cores']} cores, gpu {hw['gpu']}; "
             f"{f['repeats']} repeats, figures are median [min, max]",
             f"highest 1-min load average while measuring: {f['loadavg_max']} "
             "(other jobs on the machine move every figure; compare ratios)",
             "rewrite output tokens/s: pipeline " + fmt_spread(t["pipeline"], 1)
             + (" (warm, interleaved with one generate call on its engine: "
                + fmt_spread(t["pipeline_warm"], 1) + " vs " + fmt_spread(t["one_call_same_engine"], 1) + ")"
                if "pipeline_warm" in t else "")
             + " | bare vLLM, one generate call " + fmt_spread(t["bare_one_batch_cold"], 1)
             + " (warm engine " + fmt_spread(t["bare_one_batch"], 1) + ")"
             + " | bare, one call per chunk " + fmt_spread(t["bare_chunked"], 1)
             + " | bare, one call, no per-request seeds " + fmt_spread(t["bare_unseeded"], 1),
             "ratio pipeline / bare one batch, first pass on a fresh engine each (the "
             "pipeline's engine ran the GA pass before it): " + fmt_spread(r["pipeline_one_batch"]),
             "  per repeat (pipeline tok/s / one batch tok/s = ratio, load): " + "; ".join(
                 f"{p['pipeline_tokens_per_s']:.0f} / {p['one_batch_cold_tokens_per_s']:.0f} = "
                 f"{p['ratio']:.3f} ({p['loadavg_max']})" for p in f.get("per_repeat", [])),
             *(["ratio pipeline / one generate call, same warm engine, interleaved "
                f"({WARM_ROUNDS} pairs per repeat; target >= 0.97): "
                + fmt_spread(r["pipeline_warm_one_batch"]),
                "  per repeat: " + "; ".join(
                    f"{p['pipeline_warm_tokens_per_s']:.0f} / "
                    f"{p['one_call_same_engine_tokens_per_s']:.0f} = {p['ratio_warm']:.3f}"
                    for p in f.get("per_repeat", []))]
               if "pipeline_warm_one_batch" in r else []),
             *(["ratio bare windowed feed / one batch, same engine, back to back: "
                + fmt_spread(r["windowed_one_batch"])] if "windowed_one_batch" in r else []),
             "ratio bare per-chunk calls / one batch (cost of chunk barriers): "
             + fmt_spread(r["chunked_one_batch"]),
             "ratio seeded / unseeded one batch (cost of per-request seeds): "
             + fmt_spread(r["seeded_unseeded"]),
             f"peak memory growth from 1x to {f['scale']}x: task "
             f"{f['memory_growth_10x_over_1x']['task']}x, engine "
             f"{f['memory_growth_10x_over_1x']['engine']}x",
             "| shard | docs | task wall s | engine starts (gate/reformulate/clean/validate) "
             "| engine start s | task peak MiB | engine peak MiB |",
             "|---|---:|---:|---|---:|---:|---:|"]  # fmt: skip
    for name, x in f["tasks"].items():
        starts = "/".join(str(v) for v in x["engine_starts"].values())
        lines.append(
            f"| {name} | {x['docs']} | {fmt_spread(x['wall_s'], 1)} | {starts} "
            f"(total {x['engine_starts_total']}) | {fmt_spread(x['engine_start_s'], 1)} | "
            f"{fmt_spread(x['task_peak_mib'], 0)} | {fmt_spread(x['engine_peak_mib'], 0)} |"
        )
    return "\n".join(lines)


if __name__ == "__main__":
    mode, payload, result_path = sys.argv[1], json.loads(sys.argv[2]), sys.argv[3]
    result = task_main(payload) if mode == "task" else bare_main(payload)
    Path(result_path).write_text(json.dumps(result))
