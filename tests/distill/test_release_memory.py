"""Training, then an engine, in one process (issue 23, point 1): after ``train_sft`` the
process must hand PyTorch's CUDA cache back, or vLLM 0.24 refuses the next engine
("Free memory on device ... is less than desired GPU memory utilization").

CUDA is faked by a memory probe: the cache stays reserved until ``empty_cache`` runs
while no trained model, optimizer or trainer is alive any more (as the caching
allocator can only return blocks nothing references)."""

from __future__ import annotations

import gc
from pathlib import Path

import pytest
import torch

from maga.distill import TrainSettings, train_sft
from maga.models.builtin import TINY, resolve_model

GIB = 2**30
TOTAL = 141 * GIB


def _alive(kinds: tuple[type, ...], before: set[int]) -> list[str]:
    return [type(o).__name__ for o in gc.get_objects()
            if isinstance(o, kinds) and id(o) not in before]  # fmt: skip


class FakeCuda:
    """torch.cuda's memory API for a process that trained on a GPU."""

    def __init__(self) -> None:
        from transformers import PreTrainedModel, Trainer

        self.kinds = (PreTrainedModel, torch.optim.Optimizer, Trainer)
        gc.collect()
        self.before = {id(o) for o in gc.get_objects() if isinstance(o, self.kinds)}
        self.reserved = 0
        self.empty_calls: list[list[str]] = []

    def train_ran(self) -> None:
        self.reserved = 30 * GIB  # what a 1.7B SFT leaves in the cache

    def empty_cache(self) -> None:
        alive = _alive(self.kinds, self.before)
        self.empty_calls.append(alive)
        if not alive:
            self.reserved = 0

    def vllm_would_start(self, utilization: float) -> bool:
        free = TOTAL - self.reserved
        return free >= utilization * TOTAL


@pytest.mark.timeout(300)
def test_train_sft_hands_the_cuda_cache_back_before_an_engine(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    fake = FakeCuda()
    from maga.distill import train as train_mod

    real_make = train_mod._make_trainer

    def make_trainer(*args, **kwargs):  # the model now sits on the "GPU"
        fake.train_ran()
        return real_make(*args, **kwargs)

    monkeypatch.setattr(train_mod, "_make_trainer", make_trainer)
    monkeypatch.setattr(torch.cuda, "is_initialized", lambda: True)
    monkeypatch.setattr(torch.cuda, "empty_cache", fake.empty_cache)
    monkeypatch.setattr(torch.cuda, "memory_reserved", lambda *a: fake.reserved)
    monkeypatch.setattr(torch.cuda, "mem_get_info", lambda *a: (TOTAL - fake.reserved, TOTAL))
    records = [{"messages": [{"role": "user", "content": f"Rewrite note {i}."}],
                "completion": f"Note {i}: the river flows to the sea."} for i in range(8)]  # fmt: skip
    settings = TrainSettings(epochs=1, batch_size=4, grad_accum=1, max_seq_len=128, max_steps=2)
    train_sft(resolve_model(TINY), records, tmp_path / "sft", settings)
    assert fake.empty_calls, "train_sft never emptied the CUDA cache"
    assert fake.empty_calls[-1] == [], f"still alive when the cache was emptied: {fake.empty_calls}"
    assert fake.vllm_would_start(0.85)


def test_release_is_a_no_op_where_cuda_was_never_used() -> None:
    from maga.llm.memory import release_cuda_cache

    if torch.cuda.is_initialized():
        pytest.skip("CUDA is in use in this process")
    assert release_cuda_cache("test") is None
