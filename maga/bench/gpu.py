"""``maga bench-gpu``: output tokens/s of the tool-model stage per GPU, and what it costs.

One engine per configuration, each in its own child process: the SLM and the teacher,
at ``bf16``, ``fp8`` (the FP8 W8A8 compressed-tensors checkpoint the pipeline's quantizer
writes and serves) and ``fp8-online`` (vLLM's online FP8), without and with draft-free
speculative decoding (``ngram``, and ``suffix`` when arctic-inference is installed).
Models are built and quantized in a process of their own, so the child that starts an
engine holds no CUDA memory of its own. The default (bf16 and fp8, no speculation) is
4 engine starts; ``make gpu-check`` is the short GPU check. Every
configuration generates ``--prompts`` requests of ``--in-tokens`` prompt tokens and
exactly ``--out-tokens`` output tokens (``ignore_eos``) in one ``generate`` call, after
a small warm-up call. Figures per configuration: output tok/s, GPU-hours per billion
output tokens (``1e9 / tok/s / 3600`` on one GPU), and, per precision and speculation,
the teacher's cost per output token over the SLM's (the paper's premise is that
distillation pays).

Models: a local folder, or ``shape:<name>`` for a random-weight model of a known shape
built on the machine (``shape:smollm2-135m``, ``shape:smollm2-1.7b``, ``shape:qwen3-8b``):
the lent GPU machines have no network, and throughput depends on the shape, not the
weights. Prompts are token ids (no tokenizer needed); each prompt repeats spans of its
own ids, as a rewrite repeats its source, so n-gram drafts can find matches. With
random weights the drafts are rarely accepted: speculation figures then show its
overhead, not its gain; real weights and real rewrite prompts are needed for that.

This module imports only the standard library at the top, so the device machine runs
it with vLLM's wheels alone (``scripts/bench-gpu-device.sh``). ``--dry-run`` prints the
plan and the engine arguments without starting anything; ``--device cpu`` runs the same
measurement loop on vLLM's CPU build (precision ``auto``; FP8 is skipped there), which
is how it is tested.
"""

from __future__ import annotations

import json
import os
import random
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

SHAPES: dict[str, dict[str, Any]] = {
    "smollm2-135m": {"arch": "LlamaForCausalLM", "hidden_size": 576, "num_hidden_layers": 30,
                     "num_attention_heads": 9, "num_key_value_heads": 3,
                     "intermediate_size": 1536, "vocab_size": 49152},
    "smollm2-1.7b": {"arch": "LlamaForCausalLM", "hidden_size": 2048, "num_hidden_layers": 24,
                     "num_attention_heads": 32, "num_key_value_heads": 32,
                     "intermediate_size": 8192, "vocab_size": 49152},
    "qwen3-8b": {"arch": "Qwen3ForCausalLM", "hidden_size": 4096, "num_hidden_layers": 36,
                 "num_attention_heads": 32, "num_key_value_heads": 8,
                 "intermediate_size": 12288, "vocab_size": 151936, "head_dim": 128},
}  # fmt: skip
PRECISIONS = ("bf16", "fp8", "fp8-online")
SPECULATION: dict[str, dict[str, Any] | None] = {
    "off": None,
    "ngram": {"method": "ngram", "num_speculative_tokens": 4, "prompt_lookup_min": 2,
              "prompt_lookup_max": 5},
    "suffix": {"method": "suffix", "num_speculative_tokens": 8},
}  # fmt: skip


def gpu_hours_per_billion(tokens_per_s: float, gpus: int = 1) -> float | None:
    """GPU-hours to produce 1e9 output tokens at ``tokens_per_s`` on ``gpus`` GPUs."""
    if tokens_per_s <= 0:
        return None
    return round(1e9 / tokens_per_s / 3600 * gpus, 2)


def plan(slm: str, teacher: str | None, precisions: list[str], speculation: list[str],
         device: str) -> list[dict[str, Any]]:  # fmt: skip
    """Every configuration to measure, with the reason when one is skipped."""
    for p in precisions:
        if p not in PRECISIONS:
            raise ValueError(f"unknown precision {p!r} (known: {', '.join(PRECISIONS)})")
    for s in speculation:
        if s not in SPECULATION:
            raise ValueError(f"unknown speculation {s!r} (known: {', '.join(SPECULATION)})")
    configs = []
    for role, model in (("slm", slm), ("teacher", teacher)):
        if not model:
            continue
        if model.startswith("shape:") and model[6:] not in SHAPES:
            raise ValueError(f"unknown model shape {model!r} (known: {', '.join(SHAPES)})")
        for precision in precisions:
            for spec in speculation:
                skip = None
                if device == "cpu" and precision.startswith("fp8"):
                    skip = "FP8 needs a GPU; vLLM's CPU build has no FP8 kernels on most CPUs"
                configs.append({"role": role, "model": model, "precision": precision,
                                "speculation": spec, "skip": skip})  # fmt: skip
    return configs


def engine_args(cfg: dict[str, Any], device: str, max_num_seqs: int, max_model_len: int,
                gpu_memory_utilization: float) -> dict[str, Any]:  # fmt: skip
    args: dict[str, Any] = {"max_model_len": max_model_len, "max_num_seqs": max_num_seqs,
                            "skip_tokenizer_init": True, "seed": 0}  # fmt: skip
    if device == "cpu":
        args.update(dtype="auto", enforce_eager=True, distributed_executor_backend="uni")
    else:
        args.update(dtype="bfloat16", gpu_memory_utilization=gpu_memory_utilization)
        if cfg["precision"] == "fp8-online":
            args["quantization"] = "fp8"  # "fp8": the checkpoint says compressed-tensors
    if SPECULATION[cfg["speculation"]] is not None:
        args["speculative_config"] = dict(SPECULATION[cfg["speculation"]])
    return args


def prompts(n: int, in_tokens: int, vocab: int, seed: int = 0) -> list[list[int]]:
    """Token-id prompts in which spans recur (a document and its near-copies), so n-gram
    lookup has matches, as in a rewrite prompt that holds the source."""
    rng = random.Random(seed)
    lo = min(100, vocab // 4)
    out = []
    for _ in range(n):
        base = [rng.randrange(lo, vocab) for _ in range(max(8, in_tokens // 2))]
        ids = (base + base)[:in_tokens]
        out.append(ids)
    return out


def build_shape(name: str, out: Path) -> None:
    """A random-weight model of a known shape (config and safetensors, no tokenizer),
    created in bf16 (an 8B shape: 16 GB, not fp32's 32 GB)."""
    import torch
    import transformers

    shape = dict(SHAPES[name])
    arch = shape.pop("arch")
    config_cls = getattr(transformers, arch.replace("ForCausalLM", "Config"))
    config = config_cls(**shape, torch_dtype="bfloat16", tie_word_embeddings=True,
                        bos_token_id=1, eos_token_id=2)  # fmt: skip
    torch.manual_seed(0)
    device = "cuda" if torch.cuda.is_available() else "cpu"
    torch.set_default_dtype(torch.bfloat16)
    with torch.device(device):
        model = getattr(transformers, arch)(config)
    model.save_pretrained(out, safe_serialization=True)


def build(model: str, precision: str, target: Path) -> None:
    """The folder ``resolve`` names, written by this (child) process."""
    src = Path(resolve(model, target.parent, "bf16")) if precision == "fp8" else None
    if precision == "fp8":
        from maga.quantize.quantize import quantize_model

        quantize_model(src, target, "fp8-w8a8", tool="builtin")
    else:
        build_shape(model[6:], target)


def resolve(model: str, cache: Path, precision: str = "bf16") -> str:
    """The model folder to load: a local folder, or a built shape; for ``fp8`` its FP8
    compressed-tensors copy. Building happens in a process of its own (its CUDA memory
    is gone before an engine starts)."""
    if precision != "fp8" and not model.startswith("shape:"):
        return model
    name = model[6:] if model.startswith("shape:") else Path(model).name
    target = cache / (name + ("-fp8" if precision == "fp8" else ""))
    if not (target / "config.json").exists():
        cache.mkdir(parents=True, exist_ok=True)
        subprocess.run([sys.executable, "-m", "maga.bench.gpu", "--build", model, precision,
                        str(target)], check=True)  # fmt: skip
    return str(target)


def measure(cfg: dict[str, Any], a: dict[str, Any]) -> dict[str, Any]:
    """Child process: one engine, one configuration."""
    from vllm import LLM, SamplingParams

    if a["device"] == "cpu":  # as the project's CPU engines run: one process, small KV cache
        os.environ.setdefault("VLLM_CPU_KVCACHE_SPACE", "1")
        os.environ["VLLM_ENABLE_V1_MULTIPROCESSING"] = "0"
    path = resolve(cfg["model"], Path(a["cache"]), cfg["precision"])
    vocab = json.loads((Path(path) / "config.json").read_text())["vocab_size"]
    args = engine_args(cfg, a["device"], a["max_num_seqs"], a["in_tokens"] + a["out_tokens"] + 8,
                       a["gpu_memory_utilization"])  # fmt: skip
    began = time.perf_counter()
    llm = LLM(model=path, **args)
    startup = time.perf_counter() - began
    params = SamplingParams(max_tokens=a["out_tokens"], temperature=0.8, ignore_eos=True,
                            detokenize=False)  # fmt: skip
    ids = prompts(a["prompts"], a["in_tokens"], vocab)
    llm.generate([{"prompt_token_ids": p} for p in ids[: min(8, len(ids))]], params,
                 use_tqdm=False)  # warm-up  # fmt: skip
    t0 = time.perf_counter()
    outs = llm.generate([{"prompt_token_ids": p} for p in ids], params, use_tqdm=False)
    wall = time.perf_counter() - t0
    tokens = sum(len(o.outputs[0].token_ids) for o in outs)
    tps = round(tokens / wall, 1) if wall else 0.0
    gpu = None
    try:
        import torch

        gpu = torch.cuda.get_device_name(0) if torch.cuda.is_available() else None
    except Exception:  # noqa: BLE001 - a CPU machine without CUDA
        gpu = None
    return {**cfg, "engine_args": args, "startup_s": round(startup, 1), "output_tokens": tokens,
            "seconds": round(wall, 3), "tokens_per_s": tps,
            "gpu_hours_per_billion": gpu_hours_per_billion(tps), "gpu": gpu}  # fmt: skip


def run(a: dict[str, Any]) -> dict[str, Any]:
    configs = plan(a["slm"], a.get("teacher"), a["precisions"], a["speculation"], a["device"])
    if a.get("dry_run"):
        for c in configs:
            c["engine_args"] = engine_args(c, a["device"], a["max_num_seqs"],
                                           a["in_tokens"] + a["out_tokens"] + 8,
                                           a["gpu_memory_utilization"])  # fmt: skip
        return {"dry_run": True, "settings": a, "configs": configs}
    results = []
    with tempfile.TemporaryDirectory(prefix="maga-bench-gpu-") as tmp:
        a = {**a, "cache": a.get("cache") or str(Path(tmp) / "models")}
        for c in configs:
            if c["skip"]:
                results.append({**c, "tokens_per_s": None})
                continue
            out = Path(tmp) / "result.json"
            cmd = [sys.executable, "-m", "maga.bench.gpu", "--child", json.dumps([c, a]), str(out)]
            proc = subprocess.run(cmd, capture_output=True, text=True)
            if proc.returncode != 0:
                tail = (proc.stderr or proc.stdout)[-1500:]
                results.append({**c, "tokens_per_s": None, "error": tail})
                continue
            results.append(json.loads(out.read_text()))
            out.unlink()
    return {"dry_run": False, "settings": a, "configs": results,
            "teacher_over_slm": teacher_over_slm(results)}  # fmt: skip


def teacher_over_slm(results: list[dict[str, Any]]) -> dict[str, float]:
    """Teacher cost per output token / SLM's, per (precision, speculation) measured for both."""
    tps = {(r["role"], r["precision"], r["speculation"]): r.get("tokens_per_s") for r in results}
    out = {}
    for (role, precision, spec), slm in tps.items():
        teacher = tps.get(("teacher", precision, spec))
        if role == "slm" and slm and teacher:
            out[f"{precision}/{spec}"] = round(slm / teacher, 2)
    return out


def render(f: dict[str, Any]) -> str:
    s = f["settings"]
    head = (f"tool-model stage on {s['device']}: {s['prompts']} prompts, {s['in_tokens']} in / "
            f"{s['out_tokens']} out tokens, max_num_seqs {s['max_num_seqs']}")  # fmt: skip
    if f["dry_run"]:
        lines = [f"DRY RUN (nothing started): {head}"]
        for c in f["configs"]:
            why = f"  [skipped: {c['skip']}]" if c["skip"] else ""
            lines.append(f"- {c['role']} {c['model']} {c['precision']} spec={c['speculation']}: "
                         f"LLM({json.dumps(c['engine_args'])}){why}")  # fmt: skip
        return "\n".join(lines)
    lines = [head, "| model | role | precision | speculation | output tok/s | GPU-h per 1B "
             "output tokens | engine start s |", "|---|---|---|---|---:|---:|---:|"]  # fmt: skip
    for r in f["configs"]:
        tps = r.get("tokens_per_s")
        note = r.get("skip") or (r.get("error", "").strip().splitlines() or [""])[-1][:120]
        lines.append(f"| {r['model']} | {r['role']} | {r['precision']} | {r['speculation']} | "
                     f"{tps if tps is not None else note} | {r.get('gpu_hours_per_billion', '')} "
                     f"| {r.get('startup_s', '')} |")  # fmt: skip
    if f.get("teacher_over_slm"):
        lines.append(f"teacher / SLM cost per output token: {f['teacher_over_slm']}")
    lines.append("target to beat: FinePhrase ~30 GPU-hours per billion output tokens per H100")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    import argparse

    p = argparse.ArgumentParser(prog="maga bench-gpu", description=__doc__.split("\n")[0])
    p.add_argument("--slm", default="shape:smollm2-135m")
    p.add_argument("--teacher", default="shape:qwen3-8b", help="'' to skip the teacher")
    p.add_argument("--precisions", default="bf16,fp8", help="bf16,fp8,fp8-online")
    p.add_argument("--speculation", default="off", help="off,ngram,suffix")
    p.add_argument("--device", choices=("gpu", "cpu"), default="gpu")
    p.add_argument("--prompts", type=int, default=2048)
    p.add_argument("--in-tokens", type=int, default=256)
    p.add_argument("--out-tokens", type=int, default=256)
    p.add_argument("--max-num-seqs", type=int, default=512)
    p.add_argument("--gpu-memory-utilization", type=float, default=0.85)
    p.add_argument("--cache", help="folder for the random-weight models (kept between runs)")
    p.add_argument("--dry-run", action="store_true", help="print the plan; start nothing")
    p.add_argument("--out", help="also write the figures as JSON here")
    p.add_argument("--record", help="storage root whose throughput store gets the figures")
    p.add_argument("--from-json", help="measure nothing: print and --record this --out file "
                   "(figures brought back from a device machine)")  # fmt: skip
    x = p.parse_args(argv)
    a = {"slm": x.slm, "teacher": x.teacher or None, "device": x.device,
         "precisions": [v for v in x.precisions.split(",") if v],
         "speculation": [v for v in x.speculation.split(",") if v], "prompts": x.prompts,
         "in_tokens": x.in_tokens, "out_tokens": x.out_tokens, "max_num_seqs": x.max_num_seqs,
         "gpu_memory_utilization": x.gpu_memory_utilization, "cache": x.cache,
         "dry_run": x.dry_run}  # fmt: skip
    if min(x.prompts, x.in_tokens, x.out_tokens, x.max_num_seqs) < 1:
        p.error("--prompts, --in-tokens, --out-tokens and --max-num-seqs must be at least 1")
    try:
        figures = json.loads(Path(x.from_json).read_text()) if x.from_json else run(a)
    except ValueError as exc:
        p.error(str(exc))
    print(render(figures))
    if x.out:
        Path(x.out).write_text(json.dumps(figures, indent=2))
    if x.record and not figures["dry_run"]:
        record(figures, x.record)
    return 0


def record(figures: dict[str, Any], root: str) -> None:
    """Record each measured configuration in the throughput store (maga.throughput)."""
    from maga import throughput

    for r in figures["configs"]:
        if r.get("tokens_per_s"):
            hw = throughput.hardware(gpu=r.get("gpu"), gpu_count=1 if r.get("gpu") else 0)
            throughput.record({"hardware": hw, "model": r["model"], "role": r["role"],
                               "precision": r["precision"], "speculation": r["speculation"],
                               "source": "maga bench-gpu (one engine, fixed-length decode)",
                               "tokens_per_s": r["tokens_per_s"]}, root)  # fmt: skip


if __name__ == "__main__":
    if sys.argv[1] == "--build":
        build(sys.argv[2], sys.argv[3], Path(sys.argv[4]))
        sys.exit(0)
    if sys.argv[1] == "--child":
        c, a = json.loads(sys.argv[2])
        Path(sys.argv[3]).write_text(json.dumps(measure(c, a)))
        sys.exit(0)
    sys.exit(main(sys.argv[1:]))
