"""Engine tok/s in each candidate precision, side by side in one run.

The engines (float32, bfloat16, and the model quantized to INT8 W8A8 as the CPU profiles'
students are, with the activations ``auto`` picks here; same settings otherwise) are
started once and kept; each repeat sends the same fixed-length decode batch to each in
turn, so a noisy machine slows all alike and the ratios within a repeat are what is
reported (median and [min, max] over repeats). ``maga doctor`` runs one short repeat;
``make bench`` runs three. Each median goes to the throughput store with its precision.
"""

from __future__ import annotations

import os
import statistics
import time
from pathlib import Path
from typing import Any

from maga import hardware, throughput
from maga.llm.base import GenRequest
from maga.log import get_logger

log = get_logger("bench.precision")
INT8 = "int8-w8a8"
CANDIDATES = ("float32", "bfloat16", INT8)
# ratios within each repeat: figure key, numerator, denominator, label
RATIOS = (("float32_over_bfloat16", "float32", "bfloat16", "float32 / bfloat16"),
          ("int8_over_float32", INT8, "float32", "int8 / float32"),
          ("int8_over_bfloat16", INT8, "bfloat16", "int8 / bfloat16"))  # fmt: skip
TOPICS = ("the history of bridges", "how tides work", "a recipe for bread",
          "why the sky is blue", "the rules of chess", "how vaccines are tested",
          "the life of bees", "building a wooden boat")  # fmt: skip


def requests(n: int, max_tokens: int) -> list[GenRequest]:
    return [GenRequest(messages=[{"role": "user", "content": f"Write a paragraph about "
                                  f"{TOPICS[i % len(TOPICS)]} (#{i})."}],
                       max_tokens=max_tokens, temperature=0.0, ignore_eos=True,
                       key=f"precision-{i}") for i in range(n)]  # fmt: skip


def spread(values: list[float]) -> dict[str, float]:
    return {"median": round(statistics.median(values), 2), "min": round(min(values), 2),
            "max": round(max(values), 2), "n": len(values)}  # fmt: skip


def int8_copy(path: str) -> str:
    """The model quantized to W8A8 INT8 (``maga.quantize``), built once beside the model
    cache: what the CPU profiles' quantized students run."""
    from maga.models.builtin import cache_dir
    from maga.quantize import quantize_model

    dst = cache_dir() / "precision-bench" / f"{Path(path).name}-w8a8-int8"
    if not (dst / "config.json").exists():
        quantize_model(path, dst, "w8a8-int8")
    return str(dst)


def candidate_specs(model: str, engine: dict[str, Any], dtypes: tuple[str, ...],
                    isa: str) -> dict[str, Any]:  # fmt: skip
    """dtype -> ModelSpec. An explicit engine.dtype each; INT8 runs the quantized copy
    with the activations ``auto`` resolves to on this ISA (bf16 only where native)."""
    from maga.llm.jobs import ModelSpec
    from maga.models.builtin import resolve_model

    path = resolve_model(model)
    specs = {}
    for d in dtypes:
        if d == INT8:
            act = hardware.resolve_dtype("auto", on_gpu=False, isa=isa).dtype
            specs[d] = ModelSpec(label="precision-int8", path=int8_copy(path),
                                 engine={**engine, "dtype": act})  # fmt: skip
        else:
            specs[d] = ModelSpec(label=f"precision-{d}", path=path, engine={**engine, "dtype": d})
    return specs


def measure(model: str, engine: dict[str, Any], *, repeats: int = 3, prompts: int = 16,
            max_tokens: int = 64, dtypes: tuple[str, ...] = CANDIDATES) -> dict[str, Any]:  # fmt: skip
    """tok/s of ``model`` in each of ``dtypes``, interleaved within each repeat."""
    from maga.llm.jobs import keep_engines

    cpu = hardware.cpu()
    specs = candidate_specs(model, engine, dtypes, cpu.isa)
    batch = requests(prompts, max_tokens)
    tps: dict[str, list[float]] = {d: [] for d in dtypes}
    ratios: dict[str, list[float]] = {key: [] for key, *_ in RATIOS}
    began = time.perf_counter()
    with keep_engines(len(dtypes)) as pool:
        pool.prepare(list(specs.values()))
        for spec in specs.values():  # warm-up: first-call allocations are not measured
            pool.generate(spec, batch[:2], one_call=True)
        for rep in range(repeats):
            for d, spec in specs.items():
                out = pool.generate(spec, batch, one_call=True)
                tps[d].append(out.usage.tokens_per_s)
            for key, a, b, _ in RATIOS:
                if a in tps and b in tps:
                    ratios[key].append(tps[a][-1] / max(tps[b][-1], 1e-9))
            log.info("precision bench %d/%d: %s", rep + 1, repeats,
                     ", ".join(f"{d} {v[-1]:.1f} tok/s" for d, v in tps.items()))  # fmt: skip
    return {
        "model": model, "cpu": cpu.as_dict(), "hardware_id": throughput.hardware_id(),
        "auto": hardware.resolve_dtype("auto", on_gpu=False, isa=cpu.isa).dtype,
        "int8_activations": specs[INT8].engine["dtype"] if INT8 in specs else None,
        "tokens_per_s": {d: spread(v) for d, v in tps.items()},
        **{name: spread(v) if v else None for name, v in ratios.items()},
        "repeats": repeats, "prompts": prompts, "max_tokens": max_tokens,
        "seconds": round(time.perf_counter() - began, 1), "loadavg": os.getloadavg()[0],
    }  # fmt: skip


def render(fig: dict[str, Any]) -> str:
    cpu = fig["cpu"]
    lines = [f"engine precision on {cpu['model']} ({cpu['isa']}, {cpu['cores']} cores), "
             f"{fig['model']}, {fig['prompts']} prompts x {fig['max_tokens']} tokens, "
             f"{fig['repeats']} repeat(s), load {fig['loadavg']:.1f}:",
             "| dtype | tok/s median [min, max] | auto picks |", "| --- | ---: | --- |"]  # fmt: skip
    for d, s in fig["tokens_per_s"].items():
        mark = "yes" if d == fig["auto"] else ""
        name = f"{d} ({fig['int8_activations']} activations)" if d == INT8 else d
        lines.append(f"| {name} | {s['median']:.1f} [{s['min']:.1f}, {s['max']:.1f}] | {mark} |")
    for key, _, _, label in RATIOS:
        r = fig.get(key)
        if r:
            lines.append(f"{label} within each repeat: {r['median']:.2f} "
                         f"[{r['min']:.2f}, {r['max']:.2f}]")  # fmt: skip
    return "\n".join(lines)


def record(fig: dict[str, Any], root: str | None = None, source: str = "precision bench") -> None:
    for d, s in fig["tokens_per_s"].items():
        throughput.record({"hardware": throughput.hardware(), "model": fig["model"],
                           "precision": d, "source": source,
                           "tokens_per_s": s["median"], "repeats": s["n"]}, root)  # fmt: skip
