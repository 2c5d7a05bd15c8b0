"""Corpus-stage throughput on one GPU (issue 28), run as the last step of ``make gpu-check``.

Every figure is output tokens/s per GPU of the reformulate step's own path (an engine
worker fed through the stage's bounded window, ``EngineSession.generate``) over the
reformulate step's own requests (``REWRITE.request`` on demo documents, gpu profile
engine settings), timed inside the engine process, the median of up to 3 repeats.
Configurations run in priority order while the time budget lasts; the rest are listed
as not measured. ``bare`` is one ``LLM.generate`` over the same requests in the same
engine (the ratio the issue asks for). Random-weight models produce ``max_tokens``
each (``ignore_eos``); speculation runs the real SmolLM2-135M-Instruct weights, which
stop where they stop.

``--from-json <throughput.json> --record <storage root>`` (on any machine) prints the
table and stores each figure in the throughput store under the GPU it was measured on.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import threading
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

from maga.bench import gpu_models as gm

PROMPTS, OUT_TOKENS = 768, 128
#: name, model key, engine overrides, replicas, prompts multiplier, rough cost (s)
CONFIGS: list[tuple[str, str, dict[str, Any], int, int, int]] = [
    ("bf16 seqs256", "rand135", {}, 1, 1, 115),
    ("bf16 x2 replicas", "rand135", {}, 2, 2, 60),
    ("bf16 x4 replicas", "rand135", {}, 4, 4, 90),
    ("real no-spec", "real135", {}, 1, 1, 50),
    ("real ngram", "real135", {"speculative": {"method": "ngram"}}, 1, 1, 50),
    ("bf16 deterministic", "rand135", {"deterministic": True}, 1, 1, 45),
    ("fp8 seqs256", "fp8135", {}, 1, 1, 50),
    ("bf16 seqs512", "rand135", {"max_num_seqs": 512}, 1, 2, 50),
    ("bf16 seqs1024", "rand135", {"max_num_seqs": 1024}, 1, 4, 60),
    ("qwen3-1.7B-shape bf16", "rand1.7b", {}, 1, 1, 90),
]


def gpu_hours_per_billion(tps: float) -> float:
    return round(1e9 / tps / 3600, 2) if tps > 0 else float("inf")


class Bench:
    def __init__(self, work: Path, dry: bool) -> None:
        self.work, self.dry = work, dry
        self.reqs = gm.load_or_make(work / "tp.jsonl",
                                    lambda: gm.rewrite_requests(4 * PROMPTS, OUT_TOKENS))  # fmt: skip
        self.models: dict[str, Path] = {}

    def model(self, key: str) -> Path:
        if key not in self.models:
            real = gm.smollm2_real(self.work / "smollm2-135m-real")
            if key == "real135":
                self.models[key] = real
            elif key == "rand135":
                self.models[key] = gm.random_model(self.work / "smollm2-135m-rand", "llama",
                                                   gm.shape_of(real), str(real), "cuda")  # fmt: skip
            elif key == "fp8135":
                gm.fp8(self.model("rand135"), self.work / "smollm2-135m-rand-fp8")
                self.models[key] = self.work / "smollm2-135m-rand-fp8"
            else:  # Qwen3-1.7B's shape with SmolLM2's 49k vocabulary (not Qwen3's 152k)
                self.models[key] = gm.random_model(self.work / "qwen3-1.7b-rand", "qwen3",
                                                   gm.QWEN3_1_7B, str(real), "cuda")  # fmt: skip
        return self.models[key]

    def requests(self, key: str, n: int, seeded: bool = True) -> list:
        rand = key != "real135"
        return [replace(r, ignore_eos=rand, seed=r.seed if seeded else None)
                for r in self.reqs[:n]]  # fmt: skip

    def measure(self, name: str, key: str, over: dict[str, Any], replicas: int, mult: int,
                reps: int) -> dict[str, Any]:  # fmt: skip
        from maga.llm.jobs import EngineSession, ModelSpec

        over = dict(over)
        deterministic = bool(over.pop("deterministic", False))  # in-process engine core
        share = round(0.85 / replicas, 3)
        engine = gm.gpu_engine(gpu_memory_utilization=share, **over)
        spec = ModelSpec(label=name, path=str(self.model(key)), engine=engine, seed=7)
        reqs = self.requests(key, PROMPTS * mult)
        # The first row honours per-request seeds (to measure what they cost); the others
        # run as a GPU run does by default: seeds off unless determinism is asked for.
        seeds = True if name == "bf16 seqs256" else None
        sessions = [EngineSession(deterministic=deterministic, seeds=seeds)
                    for _ in range(replicas)]  # fmt: skip
        row: dict[str, Any] = {"name": name, "model": key, "replicas": replicas, "engine": engine,
                               "deterministic": deterministic, "prompts": len(reqs)}  # fmt: skip
        try:
            began = time.perf_counter()
            for s in sessions:  # one after another: vLLM sizes its KV cache from the
                s.launch(spec)  # memory it sees free, which a concurrent start changes
                s.wait_ready()
            row["startup_s"] = round(time.perf_counter() - began, 1)
            for s in sessions:  # warm-up: CUDA graphs, sampler, the first batch
                s.generate(spec, reqs[:64])
            row["stream"] = [self._run(sessions, spec, reqs) for _ in range(reps)]
            if replicas == 1 and name == "bf16 seqs256":
                row["bare"] = [self._run(sessions, spec, reqs, one_call=True) for _ in range(reps)]
                unseeded = self.requests(key, len(reqs), seeded=False)
                row["unseeded"] = [self._run(sessions, spec, unseeded) for _ in range(reps)]
        finally:
            for s in sessions:
                s.close()
        for k in ("stream", "bare", "unseeded"):
            if k in row:
                row[f"{k}_tps"] = round(statistics.median(row[k]), 1)
        # The figure of this setting: the pipeline's path as a run takes it by default.
        row["tokens_per_s"] = row.get("unseeded_tps", row["stream_tps"])
        return row

    @staticmethod
    def _run(sessions: list, spec: Any, reqs: list, one_call: bool = False) -> float:
        """Output tok/s of ``reqs`` split over ``sessions`` running at once."""
        parts = [reqs[i :: len(sessions)] for i in range(len(sessions))]
        outs: list[Any] = [None] * len(sessions)

        def go(i: int) -> None:
            outs[i] = sessions[i].generate(spec, parts[i], one_call=one_call)

        began = time.perf_counter()
        threads = [threading.Thread(target=go, args=(i,)) for i in range(len(sessions))]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        wall = time.perf_counter() - began
        if any(o is None for o in outs):
            raise RuntimeError("a replica failed (see its log)")
        tokens = sum(o.usage.completion_tokens for o in outs)
        if len(sessions) == 1:  # timed inside the engine process
            return round(outs[0].usage.tokens_per_s, 1)
        return round(tokens / wall, 1)


def run(work: Path, out: Path, dry: bool, budget_s: float) -> str:
    deadline = time.monotonic() + budget_s
    bench = Bench(work, dry)
    if dry:
        return (f"{len(bench.reqs)} reformulate requests ready; would measure "
                f"{len(CONFIGS)} configurations: " + "; ".join(c[0] for c in CONFIGS))  # fmt: skip
    rows, skipped = [], []
    for name, key, over, replicas, mult, cost in CONFIGS:
        left = deadline - time.monotonic()
        if left < cost * 0.6:
            skipped.append(name)
            continue
        reps = 3 if left > cost * 1.2 else 1
        try:
            rows.append(bench.measure(name, key, over, replicas, mult, reps))
        except Exception as exc:  # noqa: BLE001 - recorded, the next config still runs
            rows.append({"name": name, "error": f"{type(exc).__name__}: {exc}"[-800:]})
        (out / "throughput.json").write_text(json.dumps(
            {"gpu": _gpu(), "rows": rows, "skipped": skipped}, indent=1))  # fmt: skip
    result = {"gpu": _gpu(), "rows": rows, "skipped": skipped}
    (out / "throughput.json").write_text(json.dumps(result, indent=1))
    return "; ".join(render_row(r) for r in rows) + (
        f"; not measured: {skipped}" if skipped else ""
    )


def _gpu() -> str | None:
    import torch

    return torch.cuda.get_device_name(0) if torch.cuda.is_available() else None


def render_row(r: dict[str, Any]) -> str:
    if "error" in r:
        return f"{r['name']}: ERROR {r['error'][:200]}"
    extra = "".join(f", {k} {r[k + '_tps']:.0f}" for k in ("stream", "bare", "unseeded")
                    if "unseeded_tps" in r)  # fmt: skip
    return (f"{r['name']}: {r['tokens_per_s']:.0f} tok/s (n={len(r['stream'])}, start "
            f"{r.get('startup_s', 0):.0f}s{extra})")  # fmt: skip


def record(result: dict[str, Any], root: str) -> int:
    from maga import throughput

    hw = {**throughput.hardware(gpu=result["gpu"], gpu_count=1), "cpu_model": "device host",
          "cpu_cores": 16}  # fmt: skip
    n = 0
    for r in result["rows"]:
        if "error" in r:
            continue
        throughput.record({"hardware": hw, "model": r["model"], "tokens_per_s": r["tokens_per_s"],
                           "source": f"gpu-check {r['name']}", "replicas": r["replicas"],
                           "engine": r["engine"], "repeats": r["stream"]}, root)  # fmt: skip
        n += 1
    return n


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--from-json", required=True, help="throughput.json from a gpu-check run")
    p.add_argument("--record", help="storage root whose throughput store gets the figures")
    a = p.parse_args(argv)
    result = json.loads(Path(a.from_json).read_text())
    print(f"device: {result['gpu']}")
    for r in result["rows"]:
        print(render_row(r))
    if a.record:
        print(f"recorded {record(result, a.record)} entries under {a.record}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
