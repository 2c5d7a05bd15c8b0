"""Where and how SFT runs: device, precision, checkpointing, batch split, memory check.

:func:`plan_training` is pure: given the facts of a device (:class:`DeviceFacts`), of the
model (:class:`ModelFacts`) and the training settings, it returns a :class:`TrainPlan` or
raises :class:`TrainMemoryError` with a message that names the setting to change. The
trainer calls it with :func:`detect_device`'s facts just before training starts.

* CPU: float32, no gradient checkpointing, the configured ``batch_size`` × ``grad_accum``.
* CUDA: bf16 autocast where the GPU supports it (else fp16) and the largest per-device
  batch (a divisor of ``batch_size × grad_accum``, at most ``batch_size``) whose estimate
  fits the free memory, without gradient checkpointing (a third more compute) when that
  batch fits without it, with it otherwise; gradient accumulation makes up the rest, so
  the effective batch is the one configured.

The estimate is deliberately simple and errs high: float32 master weights, gradients and
AdamW's two moments (16 bytes per parameter; a LoRA run: 4 bytes per frozen parameter
and 16 per adapter parameter); activations (checkpointed: each layer's input, plus one
layer's working set while it is recomputed); and the logits of a full ``max_seq_len``
sequence at 16 bytes per element in bf16 (the model's logits, their float32 copy, the
float32 log-softmax the loss keeps, the float32 gradient and its bf16 cast), which
dominates for 150k-word vocabularies.
"""

from __future__ import annotations

import os
from dataclasses import asdict, dataclass
from typing import Any

GIB = 1024**3
OVERHEAD_BYTES = int(1.5 * GIB)  # CUDA context, allocator slack, kernels' workspaces
HEADROOM = 0.9  # plan to use at most this share of the free memory


class TrainMemoryError(RuntimeError):
    """The training run will not fit in the device's free memory."""


@dataclass(frozen=True)
class DeviceFacts:
    kind: str  # "cuda" or "cpu"
    name: str
    total_bytes: int
    free_bytes: int
    bf16: bool = False


@dataclass(frozen=True)
class ModelFacts:
    parameters: int
    hidden_size: int
    layers: int
    vocab_size: int
    intermediate_size: int

    @classmethod
    def of(cls, model: Any) -> ModelFacts:
        cfg = model.config
        text = cfg.get_text_config() if hasattr(cfg, "get_text_config") else cfg
        hidden = int(text.hidden_size)
        return cls(
            parameters=int(model.num_parameters()),
            hidden_size=hidden,
            layers=int(text.num_hidden_layers),
            vocab_size=int(text.vocab_size),
            intermediate_size=int(getattr(text, "intermediate_size", None) or 4 * hidden),
        )


@dataclass(frozen=True)
class MemoryEstimate:
    states: int  # weights + gradients + optimizer moments
    activations: int
    logits: int
    overhead: int

    @property
    def total(self) -> int:
        return self.states + self.activations + self.logits + self.overhead


@dataclass(frozen=True)
class TrainPlan:
    device: str
    device_name: str
    precision: str  # "bf16", "fp16" or "fp32"
    gradient_checkpointing: bool
    per_device_batch: int
    grad_accum: int
    estimate: MemoryEstimate
    free_bytes: int

    @property
    def effective_batch(self) -> int:
        return self.per_device_batch * self.grad_accum

    def as_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["estimate_gib"] = round(self.estimate.total / GIB, 2)
        out["free_gib"] = round(self.free_bytes / GIB, 2)
        return out


def lora_parameters(model: ModelFacts, rank: int) -> int:
    """Upper bound of a LoRA adapter's parameters on every projection of every layer
    (q, k, v, o, gate, up, down; k and v counted at full width)."""
    h, i = model.hidden_size, model.intermediate_size
    return model.layers * rank * (4 * 2 * h + 2 * (h + i) + (i + h))


def estimate_memory(
    model: ModelFacts, batch: int, seq_len: int, precision: str, checkpointing: bool,
    trainable: int | None = None,
) -> MemoryEstimate:  # fmt: skip
    """Peak bytes of one SFT step at ``batch`` sequences of ``seq_len`` tokens;
    ``trainable``: parameters that train (None: all; a LoRA run: its adapter's)."""
    act_bytes = 4 if precision == "fp32" else 2
    tokens = batch * seq_len
    # One decoder layer's working set: ~8 hidden-sized tensors (q, k, v, attention out,
    # norms, residuals) and 4 MLP-sized ones (gate, up, activation, product).
    layer = tokens * (8 * model.hidden_size + 4 * model.intermediate_size) * act_bytes
    if checkpointing:
        activations = model.layers * tokens * model.hidden_size * act_bytes + layer
    else:
        activations = model.layers * layer
    logits = tokens * model.vocab_size * (act_bytes + 4 + 4 + 4 + act_bytes)
    # LoRA: frozen float32 weights; gradients and AdamW moments of the adapter alone
    full = trainable is None
    states = 16 * model.parameters if full else 4 * model.parameters + 16 * trainable
    return MemoryEstimate(
        states=states,
        activations=activations,
        logits=logits,
        overhead=OVERHEAD_BYTES if model.parameters > 0 else 0,
    )


def plan_training(device: DeviceFacts, model: ModelFacts, settings: Any) -> TrainPlan:
    """The plan for ``settings`` (a TrainSettings) on ``device``; raises TrainMemoryError."""
    seq = int(settings.max_seq_len)
    trainable = None
    if getattr(settings, "adapter", "full") == "lora":
        trainable = lora_parameters(model, int(settings.lora_rank))
    if device.kind == "cpu":
        precision, modes = "fp32", (False,)
        candidates = [(int(settings.batch_size), int(settings.grad_accum))]
    else:
        precision, modes = ("bf16" if device.bf16 else "fp16"), (False, True)
        effective = int(settings.batch_size) * int(settings.grad_accum)
        candidates = [
            (b, effective // b)
            for b in range(min(int(settings.batch_size), effective), 0, -1)
            if effective % b == 0
        ]
    budget = int(device.free_bytes * HEADROOM)
    for batch, accum in candidates:
        for checkpointing in modes:  # without checkpointing when the batch fits so
            estimate = estimate_memory(model, batch, seq, precision, checkpointing, trainable)
            if estimate.total > budget:
                continue
            return TrainPlan(
                device=device.kind,
                device_name=device.name,
                precision=precision,
                gradient_checkpointing=checkpointing,
                per_device_batch=batch,
                grad_accum=accum,
                estimate=estimate,
                free_bytes=device.free_bytes,
            )
    smallest = estimate_memory(model, candidates[-1][0], seq, precision, modes[-1], trainable)
    raise TrainMemoryError(_too_big(device, model, candidates[-1][0], seq, smallest))


def _too_big(
    device: DeviceFacts, model: ModelFacts, batch: int, seq: int, e: MemoryEstimate
) -> str:
    def gib(n: int) -> str:
        return f"{n / GIB:.1f} GiB"

    held = device.total_bytes - device.free_bytes
    hints = [
        f"lower distill.max_seq_len (now {seq}; the logits alone take {gib(e.logits)})",
        f"start from a smaller model (distill.base; {model.parameters / 1e9:.2f}B parameters "
        f"need {gib(e.states)} for weights, gradients and AdamW state)",
    ]
    if device.kind == "cpu":
        hints.append("lower distill.batch_size (raise distill.grad_accum to keep the batch)")
    elif held > 0.05 * device.total_bytes:
        hints.append(
            f"free the GPU: other processes hold {gib(held)} (a teacher server on the same GPU: "
            "lower MAGA_TEACHER_GPU_MEMORY_UTILIZATION or put it on another GPU)"
        )
    return (
        f"SFT will not fit on {device.kind} ({device.name}): one step at batch {batch} x "
        f"{seq} tokens needs about {gib(e.total)} (states {gib(e.states)}, activations "
        f"{gib(e.activations)}, logits {gib(e.logits)}, overhead {gib(e.overhead)}) but only "
        f"{gib(int(device.free_bytes * HEADROOM))} of {gib(device.free_bytes)} free may be "
        "planned. To fix: " + "; or ".join(hints) + "."
    )


def detect_device() -> DeviceFacts:
    """Facts of the accelerator torch finds (the first CUDA device), else of the CPU."""
    import torch

    if torch.cuda.is_available():
        index = torch.cuda.current_device()
        free, total = torch.cuda.mem_get_info(index)
        return DeviceFacts(
            kind="cuda",
            name=torch.cuda.get_device_name(index),
            total_bytes=int(total),
            free_bytes=int(free),
            bf16=bool(torch.cuda.is_bf16_supported()),
        )
    total, free = _host_memory()
    return DeviceFacts(kind="cpu", name="cpu", total_bytes=total, free_bytes=free, bf16=False)


def _host_memory() -> tuple[int, int]:
    """(total, available) bytes of host memory, from /proc/meminfo where it exists."""
    try:
        info = {}
        with open("/proc/meminfo", encoding="ascii") as fh:
            for line in fh:
                key, value = line.split(":", 1)
                info[key] = int(value.split()[0]) * 1024
        return info["MemTotal"], info.get("MemAvailable", info["MemFree"])
    except (OSError, KeyError, ValueError):
        total = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
        return total, total
