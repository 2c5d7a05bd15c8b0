"""GPU smoke test of the ``gpu`` profile's machinery: ``make gpu-smoke``.

One command, one line per check (``<check> PASS|FAIL|DRY <details>``), exit status 1
when a check fails. On a CUDA machine with vLLM's CUDA build (see
``/work/shared/gpu/README.md`` for carrying the wheels onto a lent H100):

``structured_ga``   GA requests (JSON-schema constrained, per-request seeds) on the tiny
                    model with CUDA graphs (``enforce_eager: false``): every output is
                    valid JSON that finishes with ``stop``.
``seeded_rewrites`` the refresh's deterministic session: the same rewrite requests in
                    two fresh engines give byte-identical texts (README "Determinism").
``memory_freed``    GPU memory is back to its baseline after an engine process ends,
                    and a second engine starts.
``fp8_vs_bf16``     a random SmolLM2-135M-shaped model in bf16 and as an FP8 (W8A8)
                    compressed-tensors checkpoint, both run in vLLM; tok/s of each.
``sft_gpu``         a few SFT steps of the tiny model, on the GPU
                    (``torch.cuda.max_memory_allocated() > 0``, plan device cuda).
``no_orphan``       an engine with a separate engine-core process; SIGKILL the worker;
                    no process is left, memory returns, the next start works.

``--dry-run`` (CPU, tested in CI) prepares every input the checks use (models, the FP8
checkpoint, requests, the SFT plan for an H100) and prints what each check would run.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

CHECKS = (
    "structured_ga",
    "seeded_rewrites",
    "memory_freed",
    "fp8_vs_bf16",
    "sft_gpu",
    "no_orphan",
)
GIB = 1024**3
SMOLLM2_SHAPE = {  # SmolLM2-135M's shape; the vocabulary is the tiny model's tokenizer's
    "hidden_size": 576,
    "intermediate_size": 1536,
    "num_hidden_layers": 30,
    "num_attention_heads": 9,
    "num_key_value_heads": 3,
}
DOC = (
    "The Danube river flows through ten countries in central and eastern Europe. Its delta "
    "in Romania hosts pelicans, sturgeon and hundreds of bird species. Barges carry grain "
    "and steel between Vienna, Budapest and Belgrade."
)


def gpu_engine(**over: Any) -> dict[str, Any]:
    engine = {
        "max_model_len": 1024,
        "gpu_memory_utilization": 0.3,
        "max_num_seqs": 256,
        "enforce_eager": False,  # CUDA graphs
        "kv_cache_space_gib": None,
        "single_process": False,
    }
    engine.update(over)
    return engine


def _cfg():
    from maga.config import load_config

    return load_config("tiny")


def ga_requests(n: int = 16) -> list:
    from maga.operations import GA

    cfg = _cfg()
    return [GA.request(cfg, f"doc-{i}", f"{DOC} (copy {i})") for i in range(n)]


def rewrite_requests(n: int = 16) -> list:
    from maga.operations import REWRITE

    cfg = _cfg()
    reqs = []
    for i in range(n):
        req = REWRITE.request(cfg, f"rw-{i}", DOC, "poem", f"children aged {i % 9 + 4}")
        reqs.append(replace(req, seed=1000 + i, temperature=0.8))
    return reqs


def shaped_model(out: Path, layers: int | None = None) -> Path:
    """A random-weight SmolLM2-135M-shaped Llama (bf16) with the tiny model's tokenizer."""
    if (out / "config.json").exists():
        return out
    import torch
    from transformers import AutoTokenizer, LlamaConfig, LlamaForCausalLM

    from maga.models.builtin import TINY, resolve_model

    tok = AutoTokenizer.from_pretrained(resolve_model(TINY))
    shape = dict(SMOLLM2_SHAPE)
    if layers is not None:
        shape["num_hidden_layers"] = layers
    cfg = LlamaConfig(
        vocab_size=len(tok),
        max_position_embeddings=2048,
        tie_word_embeddings=True,
        bos_token_id=tok.bos_token_id,
        eos_token_id=tok.eos_token_id,
        pad_token_id=tok.pad_token_id,
        **shape,
    )
    torch.manual_seed(0)
    model = LlamaForCausalLM(cfg).to(torch.bfloat16)
    model.save_pretrained(out)
    tok.save_pretrained(out)
    return out


def fp8_checkpoint(src: Path, out: Path) -> dict[str, Any]:
    from maga.quantize.quantize import quantize_model

    if (out / "config.json").exists():
        return {"quantized_layers": -1}
    return quantize_model(src, out, "fp8-w8a8", tool="builtin")


def free_gpu_bytes() -> int:
    import torch

    return int(torch.cuda.mem_get_info()[0])


def _running(pid: int) -> bool:
    try:
        raw = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return raw[raw.rindex(")") + 2 :].split()[0] not in {"Z", "X"}


# ----------------------------------------------------------------------------- checks
class Smoke:
    def __init__(self, work: Path, dry: bool) -> None:
        self.work = work
        self.dry = dry
        from maga.models.builtin import TINY, resolve_model

        self.tiny = resolve_model(TINY)

    def spec(self, label: str, path: str, **engine: Any):
        from maga.llm.jobs import ModelSpec

        return ModelSpec(label=label, path=path, engine=gpu_engine(**engine), seed=7)

    def structured_ga(self) -> str:
        from maga.operations import GA

        reqs = ga_requests()
        assert all(r.constraint and r.constraint.json_schema and r.seed for r in reqs)
        if self.dry:
            return f"would run {len(reqs)} JSON-schema GA requests with seeds, CUDA graphs on"
        from maga.llm.jobs import run_generation

        out = run_generation(self.spec("ga", self.tiny), reqs).results
        bad = [r for r in out if not r.ok or r.finish_reason != "stop"]
        for r in out:
            json.loads(r.text)  # raises on invalid JSON
        parsed = sum(GA.parse(r.text, _cfg().generation.pairs_per_doc).reject is None for r in out)
        if bad:
            raise AssertionError(f"{len(bad)}/{len(out)} did not finish with stop: {bad[0]}")
        return f"{len(out)}/{len(out)} valid JSON (finish=stop), {parsed} parse as full GA pairs"

    def seeded_rewrites(self) -> str:
        reqs = rewrite_requests()
        if self.dry:
            return f"would run {len(reqs)} seeded rewrites twice in fresh deterministic engines"
        from maga.llm.jobs import EngineSession

        texts = []
        for _ in range(2):
            with EngineSession(deterministic=True) as session:
                texts.append([r.text for r in session.generate(self.spec("rw", self.tiny),
                                                               reqs).results])  # fmt: skip
        same = sum(a == b for a, b in zip(*texts, strict=True))
        if same != len(reqs):
            raise AssertionError(f"only {same}/{len(reqs)} rewrites byte-identical across runs")
        return f"{same}/{len(reqs)} rewrites byte-identical across two fresh engines"

    def memory_freed(self) -> str:
        if self.dry:
            return "would compare free GPU memory before, during and after one engine, then start another"
        from maga.llm.jobs import EngineSession

        reqs = rewrite_requests(4)
        base = free_gpu_bytes()
        with EngineSession(deterministic=False) as session:
            session.generate(self.spec("m1", self.tiny), reqs)
            during = free_gpu_bytes()
        after = free_gpu_bytes()
        with EngineSession(deterministic=False) as session:
            ok = all(r.ok for r in session.generate(self.spec("m2", self.tiny), reqs).results)
        held, left = (base - during) / GIB, (base - after) / GIB
        if held < 1 or left > 0.5 or not ok:
            raise AssertionError(
                f"engine held {held:.1f} GiB, {left:.2f} GiB not freed, 2nd ok={ok}"
            )
        return (
            f"engine held {held:.1f} GiB; {left:.2f} GiB missing after it ended; second engine ran"
        )

    def fp8_vs_bf16(self) -> str:
        layers = 2 if self.dry else None
        bf16 = shaped_model(self.work / "smollm2-shaped-bf16", layers)
        q = fp8_checkpoint(bf16, self.work / "smollm2-shaped-fp8")
        qcfg = json.loads((self.work / "smollm2-shaped-fp8" / "config.json").read_text())
        method = qcfg.get("quantization_config", {}).get("quant_method")
        if self.dry:
            return (f"FP8 checkpoint written ({method}, {q['quantized_layers']} layers, "
                    f"{layers}-layer model on CPU); would bench bf16 vs FP8 in vLLM")  # fmt: skip
        from maga.llm.base import GenRequest
        from maga.llm.jobs import BenchSpec, run_generation

        warm = [GenRequest(messages=[{"role": "user", "content": DOC}], max_tokens=8)]
        bench = BenchSpec(prompts=256, max_tokens=256)
        figures = {}
        for name, path in (("bf16", bf16), ("fp8", self.work / "smollm2-shaped-fp8")):
            warm_many = warm * bench.prompts
            out = run_generation(self.spec(name, str(path)), warm_many, bench)
            if not all(r.ok for r in out.results) or not out.bench:
                raise AssertionError(f"{name}: generation failed")
            figures[name] = out.bench["tokens_per_s"]
        return (f"SmolLM2-135M-shaped, {bench.prompts} prompts x {bench.max_tokens} tokens: "
                f"bf16 {figures['bf16']:.0f} tok/s, fp8 ({method}) {figures['fp8']:.0f} tok/s")  # fmt: skip

    def sft_gpu(self) -> str:
        from maga.distill import TrainSettings
        from maga.distill.plan import DeviceFacts, ModelFacts, plan_training

        settings = TrainSettings(batch_size=4, grad_accum=1, max_seq_len=256, max_steps=5,
                                 learning_rate=1e-3)  # fmt: skip
        records = [
            {"messages": [{"role": "user", "content": f"Rewrite note {i} for children."}],
             "completion": f"Note {i}: the river is long and flows to the sea."}
            for i in range(16)
        ]  # fmt: skip
        if self.dry:
            h100 = DeviceFacts("cuda", "NVIDIA H100", 80 * GIB, 79 * GIB, bf16=True)
            qwen = ModelFacts(1_720_000_000, 2048, 28, 151_936, 6144)
            from maga.config import load_config
            from maga.distill import TrainSettings as TS

            plan = plan_training(h100, qwen, TS.of(load_config("gpu").distill))
            return (f"would train {settings.max_steps} steps on cuda; gpu profile on an H100: "
                    f"{plan.precision}, checkpointing, batch {plan.per_device_batch} x "
                    f"accumulation {plan.grad_accum}, ~{plan.estimate.total / GIB:.0f} GiB")  # fmt: skip
        from maga.distill.train import train_sft

        stats = train_sft(self.tiny, records, self.work / "sft", settings, log_every=1)
        plan, peak = stats["plan"], stats.get("peak_gpu_bytes", 0)
        if plan["device"] != "cuda" or not peak > 0:
            raise AssertionError(f"trained on {plan['device']}, peak GPU bytes {peak}")
        return (f"{stats['steps']} steps on {plan['device_name']} ({plan['precision']}), "
                f"loss {stats['train_loss_first']:.3f} -> {stats['train_loss_last']:.3f}, "
                f"max_memory_allocated {peak / 2**20:.0f} MiB")  # fmt: skip

    def no_orphan(self) -> str:
        if self.dry:
            import subprocess

            armed = subprocess.run(
                [sys.executable, "-c", "from maga.llm.lifecycle import _prctl_pdeathsig as p;"
                 "import signal,sys; sys.exit(0 if p(signal.SIGKILL) else 1)"], check=False,
            ).returncode == 0  # fmt: skip
            return f"PR_SET_PDEATHSIG available: {armed}; would SIGKILL a worker with a separate engine core"
        from maga.llm.jobs import EngineSession
        from maga.llm.lifecycle import descendants

        reqs = rewrite_requests(2)
        base = free_gpu_bytes()
        with EngineSession(deterministic=False) as session:
            spec = self.spec("orphan", self.tiny)
            session.generate(spec, reqs)
            worker = session.worker_pid
            below = descendants(worker)
            os.kill(worker, signal.SIGKILL)
            deadline = time.monotonic() + 60
            while any(_running(p) for p in below | {worker}) and time.monotonic() < deadline:
                time.sleep(0.2)
            left = [p for p in below | {worker} if _running(p)]
            time.sleep(2)
            missing = (base - free_gpu_bytes()) / GIB
            again = all(r.ok for r in session.generate(spec, reqs).results)
        if left or missing > 0.5 or not again:
            raise AssertionError(f"left {left}, {missing:.2f} GiB not freed, restart ok={again}")
        return (
            f"SIGKILLed worker with {len(below)} child process(es): none left, "
            f"{missing:.2f} GiB not freed, next start ran"
        )


def run(dry: bool, work: Path, only: list[str] | None = None,
        emit: Callable[[str], None] = print) -> int:  # fmt: skip
    if not dry:
        import torch

        if not torch.cuda.is_available():
            emit("gpu_smoke FAIL no CUDA device here: run it on a GPU machine, or --dry-run")
            return 2
    smoke = Smoke(work, dry)
    failed = 0
    for name in only or CHECKS:
        began = time.perf_counter()
        try:
            detail = getattr(smoke, name)()
            status = "DRY" if dry else "PASS"
        except Exception as exc:  # one line per check, whatever happened
            status, detail = "FAIL", f"{type(exc).__name__}: {exc}".replace("\n", " ")[:400]
            failed += 1
        emit(f"{name:<16} {status:<4} {detail} ({time.perf_counter() - began:.0f}s)")
    return 1 if failed else 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dry-run", action="store_true", help="CPU: prepare and describe")
    parser.add_argument("--workdir", help="where models and checkpoints go (default: temp)")
    parser.add_argument("--only", action="append", choices=CHECKS, help="run just this check")
    args = parser.parse_args(argv)
    if args.workdir:
        Path(args.workdir).mkdir(parents=True, exist_ok=True)
        return run(args.dry_run, Path(args.workdir), args.only)
    with tempfile.TemporaryDirectory(prefix="maga-gpu-smoke-") as tmp:
        return run(args.dry_run, Path(tmp), args.only)


if __name__ == "__main__":
    sys.exit(main())
