"""What this processor runs natively, and the precision an engine uses because of it.

``engine.dtype: auto`` means "the fastest precision this machine runs natively", not
"whatever the checkpoint says". On x86 CPUs vLLM's CPU build and a bf16 checkpoint
would otherwise pick bf16 everywhere, and without AVX512-BF16 or AMX that arithmetic is
emulated: on an AMD EPYC Zen 2 (AVX2), SmolLM2-135M ran 31 tok/s in bf16 and 149 tok/s
in float32. So:

* GPU: ``auto`` stays vLLM's (the checkpoint's dtype; bf16 on every GPU vLLM 0.24 runs).
* CPU with native bf16 (AVX512-BF16 or AMX): ``bfloat16``.
* any other CPU: ``float32``.
* an explicit ``engine.dtype`` is obeyed as written.

The ISA level honours what torch and oneDNN are told to dispatch to
(``ATEN_CPU_CAPABILITY``, ``ONEDNN_MAX_CPU_ISA``), so an AVX-512 machine can measure the
AVX2 case: ``ATEN_CPU_CAPABILITY=avx2 ONEDNN_MAX_CPU_ISA=AVX2``. Nothing here imports
torch: the checks read ``/proc/cpuinfo`` and the environment.
"""

from __future__ import annotations

import os
import platform
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from functools import cache
from pathlib import Path

#: ISA levels, lowest first. ``avx512_bf16`` and ``amx`` compute bf16 natively.
LEVELS = ("baseline", "avx2", "avx512", "avx512_bf16", "amx")
NATIVE_BF16 = frozenset({"avx512_bf16", "amx"})

# ATEN_CPU_CAPABILITY values (torch's dispatch ceiling) -> the highest level they allow.
_ATEN_CAP = {"default": "baseline", "avx2": "avx2", "avx512": "amx"}
# ONEDNN_MAX_CPU_ISA values -> the highest level they allow (oneDNN's own names).
_ONEDNN_CAP = {
    "sse41": "baseline", "avx": "baseline", "avx2": "avx2", "avx2_vnni": "avx2",
    "avx2_vnni_2": "avx2", "avx512_core": "avx512", "avx512_core_vnni": "avx512",
    "avx512_core_bf16": "avx512_bf16", "avx512_core_fp16": "avx512_bf16",
    "avx512_core_amx": "amx", "avx512_core_amx_fp16": "amx", "all": "amx",
}  # fmt: skip


def _cpuinfo() -> tuple[str, frozenset[str]]:
    """(model name, flags) of the first processor in /proc/cpuinfo."""
    model, flags = "", frozenset()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            key, _, value = line.partition(":")
            key = key.strip().lower()
            if key == "model name" and not model:
                model = value.strip()
            elif key == "flags" and not flags:
                flags = frozenset(value.split())
            if model and flags:
                break
    except OSError:
        pass
    return model or platform.processor() or platform.machine(), flags


def flags_level(flags: frozenset[str] | set[str]) -> str:
    """The ISA level the processor's flags offer."""
    if {"amx_bf16", "amx_tile"} <= flags:
        return "amx"
    if "avx512_bf16" in flags:
        return "avx512_bf16"
    if {"avx512f", "avx512bw", "avx512vl"} <= flags:
        return "avx512"
    if {"avx2", "fma"} <= flags:
        return "avx2"
    return "baseline"


def _lower(level: str, cap: str | None) -> str:
    if cap is None:
        return level
    return LEVELS[min(LEVELS.index(level), LEVELS.index(cap))]


def isa_level(flags: frozenset[str] | set[str], env: Mapping[str, str] | None = None) -> str:
    """The level torch and oneDNN will use: the flags' level, lowered by
    ``ATEN_CPU_CAPABILITY`` and ``ONEDNN_MAX_CPU_ISA`` when they are set."""
    env = os.environ if env is None else env
    level = flags_level(frozenset(flags))
    level = _lower(level, _ATEN_CAP.get(env.get("ATEN_CPU_CAPABILITY", "").strip().lower()))
    return _lower(level, _ONEDNN_CAP.get(env.get("ONEDNN_MAX_CPU_ISA", "").strip().lower()))


@dataclass(frozen=True)
class CPU:
    model: str
    isa: str  # one of LEVELS, as torch/oneDNN will dispatch (see isa_level)
    flags_isa: str  # what the silicon offers
    cores: int

    @property
    def native_bf16(self) -> bool:
        return self.isa in NATIVE_BF16

    def as_dict(self) -> dict[str, object]:
        return {**asdict(self), "native_bf16": self.native_bf16}


@cache
def _silicon() -> tuple[str, frozenset[str]]:
    return _cpuinfo()


def cpu(env: Mapping[str, str] | None = None) -> CPU:
    """This machine's CPU as engines will use it (environment caps applied)."""
    model, flags = _silicon()
    try:
        cores = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        cores = os.cpu_count() or 1
    return CPU(model=model, isa=isa_level(flags, env), flags_isa=flags_level(flags), cores=cores)


@dataclass(frozen=True)
class Precision:
    requested: str  # the config's engine.dtype
    dtype: str  # what the engine is given
    reason: str

    def as_dict(self) -> dict[str, str]:
        return asdict(self)


def resolve_dtype(requested: str, *, on_gpu: bool, isa: str) -> Precision:
    """The dtype an engine gets for ``engine.dtype == requested`` on this platform."""
    if requested != "auto":
        return Precision(requested, requested, "set in the config")
    if on_gpu:
        return Precision("auto", "auto", "GPU: the checkpoint's dtype (vLLM's auto)")
    if isa in NATIVE_BF16:
        return Precision("auto", "bfloat16", f"CPU {isa}: native bf16")
    return Precision("auto", "float32", f"CPU {isa}: no native bf16 (bf16 would be emulated)")


def engine_precision(requested: str, on_gpu: bool | None = None) -> Precision:
    """:func:`resolve_dtype` for this machine; ``on_gpu`` None: a CUDA device is visible
    (checked without importing torch: ``CUDA_VISIBLE_DEVICES`` and ``/dev/nvidia0``)."""
    if on_gpu is None:
        on_gpu = gpu_visible()
    return resolve_dtype(requested, on_gpu=on_gpu, isa=cpu().isa)


def gpu_visible() -> bool:
    if os.environ.get("CUDA_VISIBLE_DEVICES", None) in ("", "-1"):
        return False
    return Path("/dev/nvidia0").exists() or Path("/dev/nvidiactl").exists()
