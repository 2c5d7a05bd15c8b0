"""The training plan follows the device: precision, checkpointing, batch split, memory check."""

from __future__ import annotations

import pytest

from maga.config import load_config
from maga.distill import TrainSettings
from maga.distill.plan import (
    GIB,
    DeviceFacts,
    ModelFacts,
    TrainMemoryError,
    detect_device,
    estimate_memory,
    plan_training,
)

pytestmark = pytest.mark.timeout(60)

# Qwen3-1.7B's shape (tied embeddings): the gpu profile's distill.base.
QWEN3_1_7B = ModelFacts(
    parameters=1_720_000_000, hidden_size=2048, layers=28, vocab_size=151_936,
    intermediate_size=6144,
)  # fmt: skip
TINY = ModelFacts(parameters=600_000, hidden_size=128, layers=2, vocab_size=2048,
                  intermediate_size=256)  # fmt: skip
H100 = DeviceFacts("cuda", "NVIDIA H100 80GB HBM3", total_bytes=80 * GIB, free_bytes=79 * GIB,
                   bf16=True)  # fmt: skip
GPU_PROFILE = TrainSettings.of(load_config("gpu").distill)


def test_cpu_keeps_float32_and_the_configured_batch() -> None:
    cpu = DeviceFacts("cpu", "cpu", total_bytes=24 * GIB, free_bytes=12 * GIB)
    plan = plan_training(cpu, TINY, TrainSettings(batch_size=4, grad_accum=2, max_seq_len=256))
    assert (plan.device, plan.precision, plan.gradient_checkpointing) == ("cpu", "fp32", False)
    assert (plan.per_device_batch, plan.grad_accum) == (4, 2)


def test_gpu_profile_on_an_h100_uses_bf16_checkpointing_and_accumulation() -> None:
    assert (GPU_PROFILE.batch_size, GPU_PROFILE.grad_accum, GPU_PROFILE.max_seq_len) == (8, 4, 8192)
    plan = plan_training(H100, QWEN3_1_7B, GPU_PROFILE)
    assert (plan.device, plan.precision, plan.gradient_checkpointing) == ("cuda", "bf16", True)
    # The configured effective batch is kept; the per-device part is what fits.
    assert plan.effective_batch == 32
    assert 1 <= plan.per_device_batch < 8
    assert plan.estimate.total <= 0.9 * H100.free_bytes
    # One more sequence per device would not fit (the largest fitting divisor is chosen).
    bigger = [b for b in range(plan.per_device_batch + 1, 9) if 32 % b == 0][0]
    assert estimate_memory(QWEN3_1_7B, bigger, 8192, "bf16", True).total > 0.9 * H100.free_bytes


def test_the_unplanned_setting_is_far_beyond_a_gpu() -> None:
    # The figure: batch 8 x 8192 tokens, fp32 logits of a 151,936-word vocabulary.
    unplanned = estimate_memory(QWEN3_1_7B, 8, 8192, "fp32", checkpointing=False)
    assert 8 * 8192 * 151_936 * 4 / 1e9 > 39  # ~40 GB for the fp32 logits alone
    assert unplanned.total > 80 * GIB


def test_no_bf16_falls_back_to_fp16() -> None:
    v100 = DeviceFacts("cuda", "Tesla V100", total_bytes=32 * GIB, free_bytes=31 * GIB)
    plan = plan_training(v100, TINY, TrainSettings(batch_size=8, grad_accum=1, max_seq_len=512))
    assert plan.precision == "fp16" and plan.per_device_batch == 8


def test_a_gpu_shared_with_a_teacher_fails_naming_what_to_change() -> None:
    shared = DeviceFacts(
        "cuda", "NVIDIA H100", total_bytes=80 * GIB, free_bytes=40 * GIB, bf16=True
    )
    with pytest.raises(TrainMemoryError) as err:
        plan_training(shared, QWEN3_1_7B, GPU_PROFILE)
    message = str(err.value)
    for needle in (
        "distill.max_seq_len (now 8192",
        "distill.base",
        "MAGA_TEACHER_GPU_MEMORY_UTILIZATION",
    ):
        assert needle in message, message
    # Shorter sequences fit the same free memory.
    short = TrainSettings(batch_size=8, grad_accum=4, max_seq_len=2048)
    assert plan_training(shared, QWEN3_1_7B, short).per_device_batch >= 1


def test_cpu_out_of_memory_names_the_batch_size() -> None:
    small = DeviceFacts("cpu", "cpu", total_bytes=8 * GIB, free_bytes=4 * GIB)
    with pytest.raises(TrainMemoryError, match="distill.batch_size"):
        plan_training(small, QWEN3_1_7B, TrainSettings(batch_size=4, max_seq_len=1024))


def test_detect_device_here() -> None:
    import torch

    facts = detect_device()
    assert facts.kind == ("cuda" if torch.cuda.is_available() else "cpu")
    assert 0 < facts.free_bytes <= facts.total_bytes


def test_logits_count_the_float32_log_softmax_and_its_gradient() -> None:
    """Issue 23 (9): bf16 logits, their float32 copy, the kept log-softmax, the float32
    gradient and its bf16 cast: 16 bytes per element, not 10."""
    e = estimate_memory(QWEN3_1_7B, 1, 8192, "bf16", True)
    assert e.logits == 8192 * 151_936 * 16


def test_checkpointing_only_when_the_batch_does_not_fit_without_it() -> None:
    small = plan_training(H100, TINY, TrainSettings(batch_size=8, grad_accum=1, max_seq_len=512))
    assert (small.gradient_checkpointing, small.per_device_batch) == (False, 8)
    big = plan_training(H100, QWEN3_1_7B, GPU_PROFILE)  # 8192-token sequences of a 1.7B
    assert big.gradient_checkpointing


def test_a_lora_run_is_sized_for_its_adapter_not_a_full_fine_tune() -> None:
    from dataclasses import replace

    full = replace(GPU_PROFILE, max_seq_len=2048)  # at 8192 the logits bound both
    lora = replace(full, adapter="lora", lora_rank=16)
    gpu = DeviceFacts("cuda", "NVIDIA H200, shared", total_bytes=140 * GIB,
                      free_bytes=100 * GIB, bf16=True)  # fmt: skip
    full_plan = plan_training(gpu, QWEN3_1_7B, full)
    lora_plan = plan_training(gpu, QWEN3_1_7B, lora)
    assert lora_plan.estimate.states < full_plan.estimate.states / 3
    # The adapter's smaller states leave room for the batch without recomputation.
    assert (full_plan.per_device_batch, full_plan.gradient_checkpointing) == (8, True)
    assert (lora_plan.per_device_batch, lora_plan.gradient_checkpointing) == (8, False)
