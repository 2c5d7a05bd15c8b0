"""``make gpu-check``: the ``gpu`` profile's riskiest paths, on one GPU, in about ten minutes.

One line per step, ``<step> PASS|FAIL|SKIP|DRY <details> (<seconds>s)``, to stdout and
to ``<out>/gpu-check.txt``; exit status 1 when a step fails. Steps run in order while
the time budget (``--budget-s``) lasts; a step that would not fit prints SKIP.

``fp8_lora``          a random Qwen3-architecture model, quantized to an FP8 (W8A8)
                      compressed-tensors checkpoint, served by vLLM with two LoRA
                      adapters in one engine; structured GA output through each adapter.
``train_then_engine`` SFT on the GPU in this very process (as ``maga run`` does), then an
                      engine at the gpu profile's memory share (0.85).
``resume_bytes``      a chunk regenerated alone against the full run it came from,
                      byte-compared: default engine, then ``batch_invariant``.
``no_orphan``         SIGKILL an engine worker: no process left, memory back, restart.
``throughput``        issue 28's measurements (maga.bench.gpu_throughput), incl. seeded
                      vs unseeded tok/s; results to ``<out>/throughput.json``.

The check carries no llm-compressor (it pins other transformers/compressed-tensors
releases than vLLM 0.24 and does not fit the device's carry limits): the FP8
checkpoint comes from the pipeline's builtin quantizer, which writes the same
compressed-tensors FP8_DYNAMIC format. ``--dry-run`` (CPU, tested in CI) builds every
input and prints what each step would run.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import sys
import time
from pathlib import Path
from typing import Any

from maga.bench import gpu_models as gm
from maga.bench.gpu_models import gpu_engine
from maga.deploy.gpu_smoke import _running, free_gpu_bytes

STEPS = ("fp8_lora", "train_then_engine", "resume_bytes", "no_orphan", "throughput")
#: seconds each step took on an NVIDIA H200 (engine starts of 37-101 s included,
#: docs/gpu-check.md); a step is skipped when less than this is left of the budget
COST_S = {"fp8_lora": 150, "train_then_engine": 110, "resume_bytes": 140, "no_orphan": 80,
          "throughput": 160}  # fmt: skip
GIB = 1024**3


def _is_json(text: str) -> bool:
    """JSON as the pipeline reads it: xgrammar's JSON grammar lets raw control characters
    into strings, which strict ``json.loads`` rejects (the first H200 run counted those
    as invalid); the GA parser reads them leniently (``strict=False``)."""
    try:
        json.loads(text, strict=False)
    except ValueError:
        return False
    return True


def _samples(out: Path, name: str, texts: list[list[str]]) -> None:
    """The first outputs of a step, kept under $OUT for reading after the run."""
    (out / f"{name}-samples.json").write_text(json.dumps([t[:3] for t in texts], indent=1))


class Check:
    def __init__(self, work: Path, out: Path, dry: bool, budget_s: float) -> None:
        self.work, self.out, self.dry = work, out, dry
        self.deadline = time.monotonic() + budget_s
        from maga.models.builtin import TINY, resolve_model

        self.tiny = Path(resolve_model(TINY))
        self.qwen = gm.random_model(work / "qwen3-tiny", "qwen3", gm.TINY_QWEN3, str(self.tiny))
        self.qwen_fp8 = work / "qwen3-tiny-fp8"
        self.fp8_info = gm.fp8(self.qwen, self.qwen_fp8)
        self.adapters = [gm.lora_adapter(self.qwen, work / f"lora-{i}", seed=i) for i in (1, 2)]
        for a in self.adapters:  # the adapters' base is the FP8 checkpoint they are served on
            from maga.models.adapters import write_meta

            write_meta(a, self.qwen_fp8, rank=8)
        self.ga = gm.load_or_make(work / "ga.jsonl", lambda: gm.ga_requests(32))
        self.rw = gm.load_or_make(work / "rw.jsonl", lambda: gm.rewrite_requests(64, 96))

    def spec(self, label: str, path: Path | str, adapter: str | None = None, **engine: Any):
        from maga.llm.jobs import ModelSpec

        return ModelSpec(label=label, path=str(path), engine=gpu_engine(**engine), seed=7,
                         lora=adapter)  # fmt: skip

    # ------------------------------------------------------------------------- steps
    def fp8_lora(self) -> str:
        method = (
            self.fp8_info.get("quant_method")
            or json.loads((self.qwen_fp8 / "config.json").read_text())["quantization_config"][
                "quant_method"
            ]
        )
        if self.dry:
            return (f"FP8 Qwen3 checkpoint written ({method}); would serve it with 2 LoRA "
                    f"adapters in one engine, {len(self.ga)} GA requests through each")  # fmt: skip
        from maga.llm.jobs import EngineSession
        from maga.operations import GA

        lora = {"max_rank": 8, "max_loras": 2}
        texts, counts = [], []
        with EngineSession(deterministic=False) as s:
            for adapter in (None, *map(str, self.adapters)):
                out = s.generate(self.spec("fp8-lora", self.qwen_fp8, adapter, lora=lora),
                                 self.ga).results  # fmt: skip
                texts.append([r.text for r in out])
                stopped = [r for r in out if r.ok and r.finish_reason == "stop"]
                counts.append((len(stopped), sum(_is_json(r.text) for r in stopped)))
        _samples(self.out, "fp8_lora", texts)
        differ = sum(a != b for a, b in zip(texts[1], texts[2], strict=True))
        from_base = sum(a != b for a, b in zip(texts[0], texts[1], strict=True))
        n = len(self.ga)
        parsed = sum(GA.parse(t, 5).reject is None for t in texts[1])
        line = (f"{method} FP8 Qwen3 + 2 LoRA adapters in one engine, {n} GA requests each: "
                f"finished/valid JSON base {counts[0][0]}/{counts[0][1]}, a1 "
                f"{counts[1][0]}/{counts[1][1]}, a2 {counts[2][0]}/{counts[2][1]}; a1 vs a2 "
                f"differ on {differ}, a1 vs base on {from_base}; {parsed} parse as full GA "
                "pairs (random weights: format only, not quality)")  # fmt: skip
        invalid = any(done != valid for done, valid in counts)
        if invalid or min(c[0] for c in counts) == 0 or differ == 0 or from_base == 0:
            raise AssertionError(line)
        return line

    def train_then_engine(self) -> str:
        from maga.config import load_config

        share = load_config("gpu").student_engine.gpu_memory_utilization
        if self.dry:
            return f"would SFT the tiny model on cuda here, then start an engine at {share}"
        from maga.distill import TrainSettings
        from maga.distill.train import train_sft
        from maga.llm.jobs import run_generation

        records = [{"messages": [{"role": "user", "content": f"Rewrite note {i} for children."}],
                    "completion": f"Note {i}: the river is long and flows to the sea. " * 20}
                   for i in range(64)]  # fmt: skip
        settings = TrainSettings(batch_size=8, grad_accum=1, max_seq_len=512, max_steps=8,
                                 learning_rate=1e-3)  # fmt: skip
        stats = train_sft(str(self.tiny), records, self.work / "sft", settings, log_every=1)
        import torch

        reserved, free = torch.cuda.memory_reserved(), free_gpu_bytes()
        total = torch.cuda.mem_get_info()[1]
        out = run_generation(self.spec("after-sft", self.work / "sft",
                                       gpu_memory_utilization=share), self.rw[:16])  # fmt: skip
        if not all(r.ok for r in out.results):
            raise AssertionError("the engine after training failed a request")
        return (f"{stats['steps']} SFT steps on {stats['plan']['device_name']} (peak "
                f"{stats.get('peak_gpu_bytes', 0) / GIB:.2f} GiB); after training this process "
                f"holds {reserved / GIB:.2f} GiB reserved, {free / GIB:.1f} of {total / GIB:.1f} "
                f"GiB free; engine at {share} started and ran 16 requests")  # fmt: skip

    def resume_bytes(self) -> str:
        chunk = slice(16, 32)
        if self.dry:
            return (f"would run {len(self.rw)} seeded rewrites, then requests {chunk.start}-"
                    f"{chunk.stop - 1} alone, default engine and batch_invariant")  # fmt: skip
        from maga.llm.jobs import EngineSession

        same = {}
        for mode, over in (("default", {}), ("batch_invariant", {"batch_invariant": True})):
            with EngineSession(deterministic=True) as s:
                spec = self.spec(f"resume-{mode}", self.tiny, **over)
                full = [r.text for r in s.generate(spec, self.rw).results]
                part = [r.text for r in s.generate(spec, self.rw[chunk]).results]
            same[mode] = sum(a == b for a, b in zip(full[chunk], part, strict=True))
        n = chunk.stop - chunk.start
        line = (
            f"regenerated chunk byte-identical to the full run: default engine "
            f"{same['default']}/{n}, batch_invariant {same['batch_invariant']}/{n}"
        )
        if same["batch_invariant"] != n:
            raise AssertionError(line)
        return line

    def no_orphan(self) -> str:
        if self.dry:
            return "would SIGKILL an engine worker (separate engine core), then restart"
        from maga.llm.jobs import EngineSession
        from maga.llm.lifecycle import descendants

        base = free_gpu_bytes()
        with EngineSession(deterministic=False) as s:
            spec = self.spec("orphan", self.tiny)
            s.generate(spec, self.rw[:4])
            worker = s.worker_pid
            assert worker is not None
            below = descendants(worker)
            held = (base - free_gpu_bytes()) / GIB
            os.kill(worker, signal.SIGKILL)
            deadline = time.monotonic() + 60
            while any(_running(p) for p in below | {worker}) and time.monotonic() < deadline:
                time.sleep(0.2)
            left = [p for p in below | {worker} if _running(p)]
            deadline = time.monotonic() + 30  # the driver frees a dead process's memory
            while (base - free_gpu_bytes()) / GIB > 0.5 and time.monotonic() < deadline:
                time.sleep(0.5)
            missing = (base - free_gpu_bytes()) / GIB
            again = all(r.ok for r in s.generate(spec, self.rw[:4]).results)
        if left or missing > 0.5 or not again:
            raise AssertionError(f"left {left}, {missing:.2f} GiB not freed, restart ok={again}")
        return (f"engine held {held:.1f} GiB; SIGKILLed worker with {len(below)} child "
                f"process(es): none left, {missing:.2f} GiB not back, restart ran")  # fmt: skip

    def throughput(self) -> str:
        from maga.bench import gpu_throughput

        left = self.deadline - time.monotonic()
        return gpu_throughput.run(self.work, self.out, self.dry, budget_s=left)


def run(dry: bool, work: Path, out: Path, budget_s: float = 780,
        only: list[str] | None = None) -> int:  # fmt: skip
    out.mkdir(parents=True, exist_ok=True)
    log_file = (out / "gpu-check.txt").open("a")

    def emit(line: str) -> None:
        print(line, flush=True)
        log_file.write(line + "\n")
        log_file.flush()

    if not dry:
        import torch

        if not torch.cuda.is_available():
            emit("gpu_check FAIL no CUDA device here: run it on a GPU machine, or --dry-run")
            return 2
        emit(f"device {torch.cuda.get_device_name(0)}, torch {torch.__version__}")
    began = time.perf_counter()
    check = Check(work, out, dry, budget_s)
    emit(f"{'prepare':<18} {'DRY' if dry else 'PASS'} models and requests ready "
         f"({time.perf_counter() - began:.0f}s)")  # fmt: skip
    failed = 0
    for name in only or STEPS:
        began = time.perf_counter()
        if not dry and check.deadline - time.monotonic() < COST_S[name]:
            emit(f"{name:<18} SKIP under {COST_S[name]}s of the budget left")
            continue
        try:
            detail, status = getattr(check, name)(), "DRY" if dry else "PASS"
        except Exception as exc:  # one line per step, whatever happened
            status, detail = "FAIL", f"{type(exc).__name__}: {exc}".replace("\n", " ")[:600]
            failed += 1
        emit(f"{name:<18} {status:<4} {detail} ({time.perf_counter() - began:.0f}s)")
    return 1 if failed else 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dry-run", action="store_true", help="CPU: build inputs and describe")
    parser.add_argument("--workdir", default="var/gpu-check", help="models and requests")
    parser.add_argument("--out", default=os.environ.get("OUT", "var/gpu-check/out"))
    parser.add_argument("--budget-s", type=float, default=780.0)
    parser.add_argument("--only", action="append", choices=STEPS)
    a = parser.parse_args(argv)
    Path(a.workdir).mkdir(parents=True, exist_ok=True)
    return run(a.dry_run, Path(a.workdir), Path(a.out), a.budget_s, a.only)


if __name__ == "__main__":
    sys.exit(main())
