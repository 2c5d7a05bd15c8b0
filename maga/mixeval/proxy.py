"""The proxy language model: a small decoder-only transformer trained from scratch.

Every arm of one evaluation gets the same architecture, tokenizer, token budget,
optimiser (AdamW), schedule (linear warm-up, cosine decay) and seeds
(:class:`maga.config.ProxyConfig`); only the training tokens differ. The seed fixes the
initial weights and the order of the training sequences, so two arms at one seed start
from the same weights. Runs on the CPU in ``tiny``/``demo`` and on a GPU in bf16 in
``gpu``.
"""

from __future__ import annotations

import math
import time
from typing import Any

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from maga.config import ProxyConfig
from maga.log import get_logger

log = get_logger("mixeval.proxy")
CURVE_POINTS = 20  # training-loss points kept per run (the report's loss-vs-tokens plot)


class _Block(nn.Module):
    def __init__(self, width: int, heads: int):
        super().__init__()
        self.heads = heads
        self.norm1, self.norm2 = nn.LayerNorm(width), nn.LayerNorm(width)
        self.qkv = nn.Linear(width, 3 * width, bias=False)
        self.proj = nn.Linear(width, width, bias=False)
        self.up = nn.Linear(width, 4 * width, bias=False)
        self.down = nn.Linear(4 * width, width, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, t, c = x.shape
        q, k, v = self.qkv(self.norm1(x)).view(b, t, 3, self.heads, c // self.heads).unbind(2)
        att = F.scaled_dot_product_attention(
            q.transpose(1, 2), k.transpose(1, 2), v.transpose(1, 2), is_causal=True
        )
        x = x + self.proj(att.transpose(1, 2).reshape(b, t, c))
        return x + self.down(F.gelu(self.up(self.norm2(x))))


class ProxyLM(nn.Module):
    """Token and position embeddings, ``layers`` pre-norm blocks, tied output head."""

    def __init__(self, cfg: ProxyConfig, vocab_size: int):
        super().__init__()
        self.tok = nn.Embedding(vocab_size, cfg.width)
        self.pos = nn.Embedding(cfg.seq_len, cfg.width)
        self.blocks = nn.ModuleList(_Block(cfg.width, cfg.heads) for _ in range(cfg.layers))
        self.norm = nn.LayerNorm(cfg.width)
        for p in self.parameters():
            if p.dim() > 1:
                nn.init.normal_(p, std=0.02)

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        x = self.tok(ids) + self.pos(torch.arange(ids.shape[1], device=ids.device))
        for block in self.blocks:
            x = block(x)
        return self.norm(x) @ self.tok.weight.T


def parameter_count(cfg: ProxyConfig, vocab_size: int) -> int:
    return sum(p.numel() for p in ProxyLM(cfg, vocab_size).parameters())


def _lr(cfg: ProxyConfig, step: int, total: int) -> float:
    warm = max(1, int(cfg.warmup_share * total))
    if step < warm:
        return cfg.learning_rate * (step + 1) / warm
    done = (step - warm) / max(1, total - warm)
    floor = cfg.learning_rate * cfg.min_lr_share
    return floor + (cfg.learning_rate - floor) * 0.5 * (1 + math.cos(math.pi * done))


def _device_dtype(cfg: ProxyConfig) -> tuple[str, torch.dtype | None]:
    device = "cuda" if cfg.device == "auto" and torch.cuda.is_available() else cfg.device
    device = "cpu" if device == "auto" else device
    return device, (torch.bfloat16 if cfg.bf16 and device == "cuda" else None)


def train_and_evaluate(
    cfg: ProxyConfig, train: np.ndarray, heldout: dict[str, np.ndarray], vocab_size: int, seed: int
) -> dict[str, Any]:
    """Train a fresh proxy on ``train`` (sequences x seq_len+1 token ids, used in a
    seeded order, wrapping round when there are fewer than the budget needs) and return
    its mean next-token loss (nats) on each held-out group of sequences."""
    torch.manual_seed(seed)
    device, amp = _device_dtype(cfg)
    model = ProxyLM(cfg, vocab_size).to(device)
    opt = torch.optim.AdamW(
        model.parameters(), lr=cfg.learning_rate, weight_decay=cfg.weight_decay, betas=(0.9, 0.95)
    )
    steps = cfg.steps
    order = np.random.default_rng(seed).permutation(len(train))
    need = steps * cfg.batch_size
    order = np.resize(order, need)  # wraps round: the same budget for every arm
    began = time.perf_counter()
    model.train()
    every, window, curve = max(1, steps // CURVE_POINTS), [], []
    for step in range(steps):
        for group in opt.param_groups:
            group["lr"] = _lr(cfg, step, steps)
        batch = torch.from_numpy(train[order[step * cfg.batch_size : (step + 1) * cfg.batch_size]])
        batch = batch.to(device)
        with torch.autocast(device, dtype=amp, enabled=amp is not None):
            logits = model(batch[:, :-1])
            loss = F.cross_entropy(logits.float().reshape(-1, vocab_size), batch[:, 1:].reshape(-1))
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        window.append(loss.item())
        if (step + 1) % every == 0 or step + 1 == steps:  # training loss vs tokens seen
            curve.append(
                [(step + 1) * cfg.batch_size * cfg.seq_len, round(sum(window) / len(window), 4)]
            )
            window = []
    seconds = time.perf_counter() - began
    losses = {
        name: _loss(model, seqs, cfg, device, amp, vocab_size) for name, seqs in heldout.items()
    }
    return {"seed": seed, "loss": losses, "final_train_loss": round(loss.item(), 4),
            "train_seconds": round(seconds, 2), "train_tokens": need * cfg.seq_len,
            "unique_train_sequences": int(len(train)), "train_curve": curve}  # fmt: skip


@torch.no_grad()
def _loss(model: ProxyLM, seqs: np.ndarray, cfg: ProxyConfig, device: str, amp: Any,
          vocab: int) -> float | None:  # fmt: skip
    if not len(seqs):
        return None
    model.eval()
    total, count = 0.0, 0
    for i in range(0, len(seqs), cfg.batch_size):
        batch = torch.from_numpy(seqs[i : i + cfg.batch_size]).to(device)
        with torch.autocast(device, dtype=amp, enabled=amp is not None):
            logits = model(batch[:, :-1]).float()
        total += F.cross_entropy(logits.reshape(-1, vocab), batch[:, 1:].reshape(-1),
                                 reduction="sum").item()  # fmt: skip
        count += batch[:, 1:].numel()
    return round(total / count, 5)
