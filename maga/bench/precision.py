"""Engine tok/s in each candidate precision, side by side in one run.

Both engines (float32 and bfloat16, same model, same settings otherwise) are started
once and kept; each repeat sends the same fixed-length decode batch to one, then the
other, so a noisy machine slows both alike and the ratio within a repeat is what is
reported (median and [min, max] over repeats). ``maga doctor`` runs one short repeat;
``make bench`` runs three. Each median goes to the throughput store with its precision.
"""

from __future__ import annotations

import os
import statistics
import time
from typing import Any

from maga import hardware, throughput
from maga.llm.base import GenRequest
from maga.log import get_logger

log = get_logger("bench.precision")
CANDIDATES = ("float32", "bfloat16")
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


def measure(model: str, engine: dict[str, Any], *, repeats: int = 3, prompts: int = 16,
            max_tokens: int = 64, dtypes: tuple[str, ...] = CANDIDATES) -> dict[str, Any]:  # fmt: skip
    """tok/s of ``model`` in each of ``dtypes`` (explicit engine.dtype each), interleaved."""
    from maga.llm.jobs import ModelSpec, keep_engines
    from maga.models.builtin import resolve_model

    path = resolve_model(model)
    specs = {d: ModelSpec(label=f"precision-{d}", path=path, engine={**engine, "dtype": d})
             for d in dtypes}  # fmt: skip
    batch = requests(prompts, max_tokens)
    tps: dict[str, list[float]] = {d: [] for d in dtypes}
    ratios: list[float] = []
    began = time.perf_counter()
    with keep_engines(len(dtypes)) as pool:
        pool.prepare(list(specs.values()))
        for spec in specs.values():  # warm-up: first-call allocations are not measured
            pool.generate(spec, batch[:2], one_call=True)
        for rep in range(repeats):
            for d, spec in specs.items():
                out = pool.generate(spec, batch, one_call=True)
                tps[d].append(out.usage.tokens_per_s)
            if "float32" in tps and "bfloat16" in tps:
                ratios.append(tps["float32"][-1] / max(tps["bfloat16"][-1], 1e-9))
            log.info("precision bench %d/%d: %s", rep + 1, repeats,
                     ", ".join(f"{d} {v[-1]:.1f} tok/s" for d, v in tps.items()))  # fmt: skip
    cpu = hardware.cpu()
    return {
        "model": model, "cpu": cpu.as_dict(), "hardware_id": throughput.hardware_id(),
        "auto": hardware.resolve_dtype("auto", on_gpu=False, isa=cpu.isa).dtype,
        "tokens_per_s": {d: spread(v) for d, v in tps.items()},
        "float32_over_bfloat16": spread(ratios) if ratios else None,
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
        lines.append(f"| {d} | {s['median']:.1f} [{s['min']:.1f}, {s['max']:.1f}] | {mark} |")
    r = fig.get("float32_over_bfloat16")
    if r:
        lines.append(f"float32 / bfloat16 within each repeat: {r['median']:.2f} "
                     f"[{r['min']:.2f}, {r['max']:.2f}]")  # fmt: skip
    return "\n".join(lines)


def record(fig: dict[str, Any], root: str | None = None, source: str = "precision bench") -> None:
    for d, s in fig["tokens_per_s"].items():
        throughput.record({"hardware": throughput.hardware(), "model": fig["model"],
                           "precision": d, "source": source,
                           "tokens_per_s": s["median"], "repeats": s["n"]}, root)  # fmt: skip
