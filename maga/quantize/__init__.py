"""Quantize distilled models into checkpoints vLLM serves (compressed-tensors format)."""

from maga.quantize.quantize import (
    PRESETS,
    QuantizationError,
    dir_size_bytes,
    quantize_model,
)

__all__ = ["PRESETS", "QuantizationError", "dir_size_bytes", "quantize_model"]
