"""Quantize a small causal LM into a compressed-tensors checkpoint that vLLM loads.

Two schemes, both with per-channel symmetric weight scales and dynamic per-token
activation scales, every ``Linear`` quantized except ``lm_head``:

* ``w8a8-int8``: INT8 weights and activations. The vLLM CPU build runs it
  (``CompressedTensorsW8A8Int8`` with ``CPUInt8ScaledMMLinearKernel``).
* ``fp8-w8a8``: FP8 (e4m3) weights and activations, for GPUs. vLLM's CPU FP8 kernels
  need AMX, so on most CPUs the checkpoint is written but cannot be served.

``tool="builtin"`` computes the scales here with ``compressed-tensors`` (the version
vLLM pins); no calibration data is needed since activations are quantized on the fly.
``tool="llm-compressor"`` runs :mod:`maga.quantize.llmcompressor_job` in a subprocess
with the interpreter named by ``MAGA_QUANTIZER_PYTHON``, because llm-compressor pins
other versions of compressed-tensors and transformers than vLLM does.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any, Literal

from maga.log import get_logger
from maga.models.publish import publish_dir

log = get_logger("quantize")

Scheme = Literal["w8a8-int8", "fp8-w8a8"]
Tool = Literal["builtin", "llm-compressor"]

#: our scheme name -> compressed-tensors / llm-compressor preset name
PRESETS: dict[str, str] = {"w8a8-int8": "W8A8", "fp8-w8a8": "FP8_DYNAMIC"}
TOOLS: tuple[str, ...] = ("builtin", "llm-compressor")
IGNORE: tuple[str, ...] = ("lm_head",)
WEIGHT_GLOBS: tuple[str, ...] = ("*.safetensors", "*.bin")
PYTHON_ENV = "MAGA_QUANTIZER_PYTHON"
_ROOT = Path(__file__).resolve().parents[2]
_STDERR_TAIL = 3000


class QuantizationError(ValueError):
    """A model could not be quantized (bad input, unsupported model or failed tool)."""


def dir_size_bytes(path: str | Path) -> int:
    """Total size of the weight files (``*.safetensors``, ``*.bin``) in a model folder."""
    folder = Path(path)
    return sum(f.stat().st_size for g in WEIGHT_GLOBS for f in folder.glob(g) if f.is_file())


def quantize_model(
    src_dir: str | Path,
    dst_dir: str | Path,
    scheme: Scheme,
    tool: Tool = "builtin",
) -> dict[str, Any]:
    """Write a quantized copy of the HF checkpoint ``src_dir`` to ``dst_dir``, atomically.

    An existing ``dst_dir`` is replaced. Returns sizes, timing, the number of
    quantized layers and the quantization method vLLM will detect.
    """
    if scheme not in PRESETS:
        raise QuantizationError(f"unknown scheme {scheme!r} (known: {', '.join(PRESETS)})")
    if tool not in TOOLS:
        raise QuantizationError(f"unknown tool {tool!r} (known: {', '.join(TOOLS)})")
    src, dst = Path(src_dir), Path(dst_dir)
    _check_source(src)
    if dst.resolve() == src.resolve():
        raise QuantizationError(f"dst_dir must differ from src_dir ({src})")

    started = time.perf_counter()
    with publish_dir(dst) as tmp:
        log.info("quantizing %s with %s (%s) into %s", src, scheme, tool, dst)
        if tool == "builtin":
            _quantize_builtin(src, tmp, PRESETS[scheme])
        else:
            _run_llmcompressor(src, tmp, PRESETS[scheme])
        _copy_side_files(src, tmp)
        qconfig = _read_quantization_config(tmp)
        layers = _count_quantized_layers(tmp)
        if layers == 0:
            raise QuantizationError(f"no Linear layer of {src} was quantized")

    result = {
        "scheme": scheme,
        "tool": tool,
        "size_bytes_before": dir_size_bytes(src),
        "size_bytes_after": dir_size_bytes(dst),
        "seconds": round(time.perf_counter() - started, 3),
        "quantized_layers": layers,
        "vllm_quantization": qconfig.get("quant_method", "compressed-tensors"),
        "format": qconfig.get("format"),
    }
    log.info("quantized %s: %s", dst, result)
    return result


def _check_source(src: Path) -> None:
    """Fail early for a missing folder or a model that is not a supported causal LM."""
    config_file = src / "config.json"
    if not src.is_dir() or not config_file.is_file():
        raise QuantizationError(f"src_dir {src} is not a model folder (no config.json)")
    if dir_size_bytes(src) == 0:
        raise QuantizationError(f"src_dir {src} holds no *.safetensors or *.bin weights")
    config = json.loads(config_file.read_text())
    if "quantization_config" in config:
        raise QuantizationError(f"{src} is already quantized ({config['quantization_config']})")
    archs = config.get("architectures") or []
    from transformers.models.auto.modeling_auto import MODEL_FOR_CAUSAL_LM_MAPPING_NAMES

    known = set(MODEL_FOR_CAUSAL_LM_MAPPING_NAMES.values())
    if not archs or any(a not in known for a in archs):
        raise QuantizationError(
            f"unsupported architecture {archs or None} in {config_file}: "
            "only transformers causal LMs (…ForCausalLM) can be quantized"
        )


def _quantize_builtin(src: Path, out: Path, preset: str) -> int:
    """Quantize with compressed-tensors alone: min-max weight scales, no calibration."""
    import torch
    from compressed_tensors.compressors import ModelCompressor
    from compressed_tensors.quantization import (
        QuantizationConfig,
        QuantizationStatus,
        QuantizationStrategy,
        apply_quantization_config,
        preset_name_to_scheme,
    )
    from compressed_tensors.quantization.utils import calculate_qparams, is_module_quantized
    from transformers import AutoModelForCausalLM

    try:
        model = AutoModelForCausalLM.from_pretrained(str(src), dtype="auto")
    except (OSError, ValueError, RuntimeError) as exc:
        raise QuantizationError(f"cannot load {src} with transformers: {exc}") from exc
    model.eval()
    config = QuantizationConfig(
        config_groups={"group_0": preset_name_to_scheme(preset, ["Linear"])},
        ignore=list(IGNORE),
    )
    apply_quantization_config(model, config)

    count = 0
    with torch.no_grad():
        for name, module in model.named_modules():
            if not is_module_quantized(module):
                continue
            args = module.quantization_scheme.weights
            weight = module.weight.data
            if args.strategy == QuantizationStrategy.CHANNEL:
                low = weight.amin(dim=1, keepdim=True)
                high = weight.amax(dim=1, keepdim=True)
            elif args.strategy == QuantizationStrategy.TENSOR:
                low, high = weight.amin().reshape(1), weight.amax().reshape(1)
            else:  # pragma: no cover - only reachable if PRESETS grows
                raise QuantizationError(f"{name}: weight strategy {args.strategy} unsupported")
            scale, zero_point = calculate_qparams(low, high, args)
            module.weight_scale.data.copy_(scale)
            if hasattr(module, "weight_zero_point"):
                module.weight_zero_point.data.copy_(zero_point)
            module.quantization_status = QuantizationStatus.FROZEN
            count += 1

    compressor = ModelCompressor.from_pretrained_model(model)
    compressor.compress_model(model)
    model.save_pretrained(str(out))
    compressor.update_config(str(out))
    return count


def _run_llmcompressor(src: Path, out: Path, preset: str) -> None:
    """Run the llm-compressor job in its own interpreter; raise with its stderr on failure."""
    python = os.environ.get(PYTHON_ENV) or sys.executable
    cmd = [python, "-m", "maga.quantize.llmcompressor_job"]
    cmd += ["--src", str(src), "--dst", str(out), "--scheme", preset]
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(_ROOT), env.get("PYTHONPATH")) if p)
    log.info("running %s", " ".join(cmd))
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, env=env, check=False)
    except OSError as exc:
        raise QuantizationError(f"cannot start llm-compressor job with {python}: {exc}") from exc
    if proc.returncode != 0:
        tail = (proc.stderr or proc.stdout or "")[-_STDERR_TAIL:]
        raise QuantizationError(
            f"llm-compressor job failed (exit {proc.returncode}, python {python}; "
            f"set {PYTHON_ENV} to an interpreter with llmcompressor installed):\n{tail}"
        )


def _copy_side_files(src: Path, out: Path) -> None:
    """Copy tokenizer and other non-weight files the quantizer did not write itself."""
    for item in src.iterdir():
        if not item.is_file() or any(item.match(g) for g in WEIGHT_GLOBS):
            continue
        if item.name.endswith(".index.json") or (out / item.name).exists():
            continue
        shutil.copy2(item, out / item.name)


def _read_quantization_config(folder: Path) -> dict[str, Any]:
    config = json.loads((folder / "config.json").read_text())
    qconfig = config.get("quantization_config")
    if not isinstance(qconfig, dict):
        raise QuantizationError(f"quantizer wrote no quantization_config into {folder}")
    return qconfig


def _count_quantized_layers(folder: Path) -> int:
    """Number of layers that carry a ``weight_scale`` in the written safetensors."""
    from safetensors import safe_open

    count = 0
    for file in folder.glob("*.safetensors"):
        with safe_open(str(file), framework="pt") as f:
            names = f.keys()  # safe_open handles are not iterable
            count += sum(1 for key in names if key.endswith(".weight_scale"))
    return count
