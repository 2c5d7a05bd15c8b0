"""Supervised fine-tuning on (chat prompt, completion) records, loss on the completion only.

Plain transformers ``Trainer`` on the accelerator it finds (``maga.distill.plan``: bf16
and gradient checkpointing on a GPU, the batch split into per-device batch × gradient
accumulation that fits, a memory check before the first step; float32 on CPU): each
record becomes the chat-templated prompt (with the assistant header) followed by the
completion and EOS; prompt tokens get label -100 so only the completion is learned. The result is published atomically with a ``_SUCCESS``
marker, and a folder that already has one is returned as is (idempotent re-runs).
"""

from __future__ import annotations

import json
import tempfile
import time
from collections.abc import Mapping
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Any

from maga.config import LORA_TARGETS
from maga.distill import publish_dir
from maga.distill.plan import GIB, ModelFacts, TrainPlan, detect_device, plan_training
from maga.llm.chat import chat_prompt_text
from maga.llm.memory import release_cuda_cache
from maga.log import get_logger
from maga.models.adapters import write_meta

log = get_logger("distill.train")

IGNORE = -100
SUCCESS = "_SUCCESS"
STATS = "train_stats.json"


@dataclass(frozen=True)
class TrainSettings:
    """Training knobs; the same fields as ``maga.config.DistillConfig``."""

    epochs: float = 1.0
    learning_rate: float = 5e-5
    batch_size: int = 4
    grad_accum: int = 1
    max_seq_len: int = 1024
    max_steps: int = -1  # -1: run ``epochs`` epochs
    seed: int = 1234
    adapter: str = "full"  # "lora": train a peft LoRA adapter of the base, publish it only
    lora_rank: int = 8
    lora_alpha: float = 16.0
    lora_dropout: float = 0.0
    lora_targets: tuple[str, ...] = LORA_TARGETS

    @classmethod
    def of(cls, obj: Any) -> TrainSettings:
        """Build from a TrainSettings, a DistillConfig-like object or a mapping."""
        values: dict[str, Any] = {}
        cast = {"float": float, "int": int, "str": str, "tuple[str, ...]": tuple}
        for f in fields(cls):
            raw = (
                obj.get(f.name, f.default)
                if isinstance(obj, Mapping)
                else getattr(obj, f.name, f.default)
            )
            values[f.name] = cast[str(f.type)](raw)
        if values["adapter"] not in ("full", "lora"):
            raise ValueError(f"adapter must be 'full' or 'lora', got {values['adapter']!r}")
        return cls(**values)


def encode_example(tokenizer: Any, record: dict[str, Any], max_seq_len: int) -> dict | None:
    """Tokenize one record into ``input_ids``/``labels`` with the prompt masked out.

    Returns None when the prompt alone leaves no room for a completion token; a completion
    that does not fit is cut (its EOS goes with it) and the result has ``truncated=True``.
    """
    text = chat_prompt_text(tokenizer, record["messages"])  # thinking off, as in inference
    prompt = tokenizer(text, add_special_tokens=False)["input_ids"]
    completion = tokenizer(record["completion"], add_special_tokens=False)["input_ids"]
    if tokenizer.eos_token_id is not None:
        completion = [*completion, tokenizer.eos_token_id]
    if len(prompt) >= max_seq_len:
        return None
    room = max_seq_len - len(prompt)
    truncated = len(completion) > room
    completion = completion[:room]
    return {
        "input_ids": prompt + completion,
        "labels": [IGNORE] * len(prompt) + completion,
        "truncated": truncated,
    }


def pad_batch(examples: list[dict], pad_id: int) -> dict[str, Any]:
    """Right-pad a batch: ``pad_id`` for inputs, -100 for labels, 0 in the attention mask."""
    import torch

    width = max(len(e["input_ids"]) for e in examples)
    ids, labels, mask = [], [], []
    for e in examples:
        gap = width - len(e["input_ids"])
        ids.append(e["input_ids"] + [pad_id] * gap)
        labels.append(e["labels"] + [IGNORE] * gap)
        mask.append([1] * len(e["input_ids"]) + [0] * gap)
    return {
        "input_ids": torch.tensor(ids, dtype=torch.long),
        "labels": torch.tensor(labels, dtype=torch.long),
        "attention_mask": torch.tensor(mask, dtype=torch.long),
    }


def train_sft(
    base_dir: str | Path,
    records: list[dict],
    out_dir: str | Path,
    settings: Any,
    eval_records: list[dict] | None = None,
    log_every: int = 10,
) -> dict[str, Any]:
    """Fine-tune the model in ``base_dir`` on ``records`` and publish it to ``out_dir``.

    Skips all work when ``out_dir/_SUCCESS`` exists and returns the stored stats.
    ``train_loss_first`` is the loss of step 1, ``train_loss_last`` the mean over the last
    logging window (at most ``log_every`` steps). Raises ValueError when nothing is left
    to train on.
    """
    out = Path(out_dir)
    if (out / SUCCESS).is_file():
        stats = json.loads((out / STATS).read_text())
        log.info("%s already trained (%s present); skipping", out, SUCCESS)
        return stats
    if not records:
        raise ValueError("train_sft: no training records")
    cfg = TrainSettings.of(settings)
    started = time.monotonic()

    import torch
    from transformers import AutoConfig, AutoModelForCausalLM, AutoTokenizer, set_seed

    tokenizer = AutoTokenizer.from_pretrained(str(base_dir))
    train, dropped, truncated = _encode_all(tokenizer, records, cfg.max_seq_len)
    if not train:
        raise ValueError(
            f"train_sft: all {len(records)} records were dropped: the prompts are longer "
            f"than max_seq_len={cfg.max_seq_len} tokens"
        )
    evals = _encode_all(tokenizer, eval_records, cfg.max_seq_len)[0] if eval_records else []
    if dropped or truncated:
        log.warning("dropped %d too-long records, truncated %d completions", dropped, truncated)

    set_seed(cfg.seed)
    # Save in the base model's dtype when vLLM's CPU build takes it (bf16), else float32.
    base_dtype = AutoConfig.from_pretrained(str(base_dir)).dtype
    save_dtype = torch.bfloat16 if base_dtype == torch.bfloat16 else torch.float32
    # float32 master weights; on a GPU the forward pass runs under bf16/fp16 autocast.
    model = AutoModelForCausalLM.from_pretrained(str(base_dir), dtype=torch.float32)
    plan = plan_training(detect_device(), ModelFacts.of(model), cfg)  # fails before training
    if cfg.adapter == "lora":  # the plan above sized the adapter's states, not a full model's
        model = _with_lora(model, cfg)
    log.info(
        "training on %s (%s): %s, gradient checkpointing %s, batch %d x accumulation %d, "
        "estimated peak %.1f GiB of %.1f GiB free",
        plan.device,
        plan.device_name,
        plan.precision,
        "on" if plan.gradient_checkpointing else "off",
        plan.per_device_batch,
        plan.grad_accum,
        plan.estimate.total / GIB,
        plan.free_bytes / GIB,
    )
    if plan.device == "cuda":
        torch.cuda.reset_peak_memory_stats()
    pad_id = tokenizer.pad_token_id
    if pad_id is None:
        pad_id = tokenizer.eos_token_id if tokenizer.eos_token_id is not None else 0

    with tempfile.TemporaryDirectory(prefix="maga-sft-") as scratch:
        trainer, losses = _make_trainer(
            model, tokenizer, train, evals, cfg, plan, pad_id, scratch, log_every
        )
        result = trainer.train()
        eval_loss = trainer.evaluate()["eval_loss"] if evals else None

    stats: dict[str, Any] = {
        "examples": len(train),
        "dropped": {"too_long": dropped},
        "truncated": truncated,
        "train_tokens": sum(len(e["input_ids"]) for e in train),
        "completion_tokens": sum(sum(x != IGNORE for x in e["labels"]) for e in train),
        "steps": int(trainer.state.global_step),
        "epochs": float(trainer.state.epoch or 0.0),
        "train_loss_first": losses[0] if losses else None,
        "train_loss_last": losses[-1] if losses else None,
        "train_loss_mean": float(result.training_loss),
        "train_seconds": float(result.metrics.get("train_runtime", 0.0)),
        "seconds": 0.0,
        "base": str(base_dir),
        "settings": asdict(cfg),
        "plan": plan.as_dict(),
    }
    if plan.device == "cuda":
        stats["peak_gpu_bytes"] = int(torch.cuda.max_memory_allocated())
    if eval_records:
        stats["eval_examples"] = len(evals)
        stats["eval_loss"] = float(eval_loss) if eval_loss is not None else None

    model.config.use_cache = True  # the Trainer turns it off; inference wants it on
    with publish_dir(out) as tmp:
        if cfg.adapter == "lora":
            # The adapter alone (vLLM serves it on the base, with the base's tokenizer);
            # its base is named relative to where the adapter is published.
            stats["trainable_parameters"] = sum(
                p.numel() for p in model.parameters() if p.requires_grad
            )
            model.save_pretrained(tmp, safe_serialization=True)
            write_meta(tmp, base_dir, rank=cfg.lora_rank)  # tmp is out's sibling: same path
        else:
            model.to(save_dtype).save_pretrained(tmp, safe_serialization=True)
            tokenizer.save_pretrained(tmp)
        stats["seconds"] = round(time.monotonic() - started, 3)
        (tmp / STATS).write_text(json.dumps(stats, indent=2))
        (tmp / SUCCESS).write_text("")
    log.info(
        "trained %s: %d steps, loss %s -> %s, %.1fs",
        out,
        stats["steps"],
        stats["train_loss_first"],
        stats["train_loss_last"],
        stats["seconds"],
    )
    # Nothing may keep the model, its gradients or the optimizer alive: the engine this
    # process starts next (evaluation, or a pipeline's next stage) needs the GPU free.
    accelerator = getattr(trainer, "accelerator", None)
    if accelerator is not None:
        accelerator.free_memory()
    del trainer, model, result
    release_cuda_cache("after training")
    return json.loads(json.dumps(stats))  # the same shape a later (skipped) call reads back


def _with_lora(model: Any, cfg: TrainSettings) -> Any:
    """``model`` with fresh LoRA adapters on ``cfg.lora_targets`` (peft), the base frozen."""
    from peft import LoraConfig, get_peft_model

    found = {name.rsplit(".", 1)[-1] for name, _ in model.named_modules()}
    missing = sorted(set(cfg.lora_targets) - found)
    if missing:
        raise ValueError(f"distill.lora_targets: the model has no {', '.join(missing)} layers")
    lora = LoraConfig(
        r=cfg.lora_rank,
        lora_alpha=cfg.lora_alpha,
        lora_dropout=cfg.lora_dropout,
        target_modules=list(cfg.lora_targets),
        task_type="CAUSAL_LM",
    )
    return get_peft_model(model, lora)


def _encode_all(tokenizer: Any, records: list[dict], max_seq_len: int) -> tuple[list, int, int]:
    """Encode every record; return (examples, dropped too long, truncated)."""
    examples, dropped, truncated = [], 0, 0
    for i, record in enumerate(records):
        try:
            example = encode_example(tokenizer, record, max_seq_len)
        except (KeyError, TypeError) as err:
            raise ValueError(f"record {i} is not {{'messages': [...], 'completion': str}}") from err
        if example is None:
            dropped += 1
            continue
        truncated += example.pop("truncated")
        examples.append(example)
    return examples, dropped, truncated


def _make_trainer(
    model: Any,
    tokenizer: Any,
    train: list[dict],
    evals: list[dict],
    cfg: TrainSettings,
    plan: TrainPlan,
    pad_id: int,
    scratch: str,
    log_every: int,
) -> tuple[Any, list[float]]:
    """A Trainer on ``plan``'s device that saves nothing and logs (step, loss) through the project logger."""
    from transformers import Trainer, TrainerCallback, TrainingArguments
    from transformers.trainer_callback import PrinterCallback

    losses: list[float] = []

    class Progress(TrainerCallback):
        def __init__(self) -> None:
            self.t0 = time.monotonic()

        def on_step_end(self, args, state, control, **kwargs):  # type: ignore[no-untyped-def]
            if state.global_step >= state.max_steps:
                control.should_log = True  # so the last loss is always recorded
            return control

        def on_log(self, args, state, control, logs=None, **kwargs):  # type: ignore[no-untyped-def]
            if logs and "loss" in logs:
                losses.append(float(logs["loss"]))
                per_step = (time.monotonic() - self.t0) / max(state.global_step, 1)
                log.info(
                    "step %d/%d loss %.4f lr %.2e epoch %.2f (%.2fs/step)",
                    state.global_step,
                    state.max_steps,
                    logs["loss"],
                    logs.get("learning_rate", 0.0),
                    state.epoch or 0.0,
                    per_step,
                )

    args = TrainingArguments(
        output_dir=scratch,
        per_device_train_batch_size=plan.per_device_batch,
        per_device_eval_batch_size=plan.per_device_batch,
        gradient_accumulation_steps=plan.grad_accum,
        gradient_checkpointing=plan.gradient_checkpointing,
        gradient_checkpointing_kwargs={"use_reentrant": False}
        if plan.gradient_checkpointing
        else None,
        num_train_epochs=cfg.epochs,
        max_steps=cfg.max_steps,
        learning_rate=cfg.learning_rate,
        seed=cfg.seed,
        data_seed=cfg.seed,
        logging_strategy="steps",
        logging_steps=max(1, log_every),
        logging_first_step=True,
        eval_strategy="no",
        save_strategy="no",
        report_to="none",
        use_cpu=plan.device == "cpu",
        bf16=plan.precision == "bf16",
        fp16=plan.precision == "fp16",
        dataloader_num_workers=0,
        dataloader_pin_memory=False,
        remove_unused_columns=False,
        disable_tqdm=True,
    )
    trainer = Trainer(
        model=model,
        args=args,
        data_collator=lambda batch: pad_batch(batch, pad_id),
        train_dataset=train,
        eval_dataset=evals or None,
        processing_class=tokenizer,
        callbacks=[Progress()],
    )
    trainer.remove_callback(PrinterCallback)
    return trainer, losses
