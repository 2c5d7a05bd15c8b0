"""encode_example masking and real (tiny) train_sft runs: loss, outputs, idempotency."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import torch
from safetensors.torch import load_file

from maga.config import DistillConfig
from maga.distill import TrainSettings, encode_example, train_sft
from maga.models.builtin import TINY, resolve_model

FAST = TrainSettings(
    epochs=1, learning_rate=3e-3, batch_size=4, grad_accum=1, max_seq_len=256, max_steps=30, seed=7
)


def _records(n: int) -> list[dict[str, Any]]:
    return [
        {
            "messages": [
                {"role": "system", "content": "You rewrite text for a new audience."},
                {"role": "user", "content": f"Rewrite note {i} about the river for children."},
            ],
            "completion": f"Note {i}: the river is long and it flows to the sea.",
        }
        for i in range(n)
    ]


@pytest.fixture(scope="module")
def base() -> str:
    return resolve_model(TINY)


@pytest.fixture(scope="module")
def tokenizer(base: str) -> Any:
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(base)


@pytest.fixture(scope="module")
def trained(base: str, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict]:
    out = tmp_path_factory.mktemp("sft") / "model"
    records = _records(16)
    return out, train_sft(base, records, out, FAST, eval_records=records[:4], log_every=5)


def _prompt_ids(tokenizer: Any, record: dict) -> list[int]:
    return list(
        tokenizer.apply_chat_template(record["messages"], add_generation_prompt=True)["input_ids"]
    )


def test_encode_masks_exactly_the_prompt(tokenizer: Any) -> None:
    record = _records(1)[0]
    prompt = _prompt_ids(tokenizer, record)
    ex = encode_example(tokenizer, record, 256)
    assert ex is not None and not ex["truncated"]
    n = len(prompt)
    assert ex["input_ids"][:n] == prompt
    assert ex["labels"][:n] == [-100] * n
    assert all(label != -100 for label in ex["labels"][n:])
    assert ex["labels"][n:] == ex["input_ids"][n:]
    assert ex["input_ids"][-1] == tokenizer.eos_token_id
    labelled = tokenizer.decode(ex["labels"][n:])
    assert labelled == record["completion"] + tokenizer.eos_token


def test_encode_too_long(tokenizer: Any) -> None:
    record = _records(1)[0]
    n = len(_prompt_ids(tokenizer, record))
    assert encode_example(tokenizer, record, n) is None  # no room for a completion token
    ex = encode_example(tokenizer, record, n + 3)
    assert ex is not None and ex["truncated"]
    assert len(ex["input_ids"]) == n + 3
    assert sum(label != -100 for label in ex["labels"]) == 3
    assert ex["input_ids"][-1] != tokenizer.eos_token_id


def test_settings_accept_the_project_config() -> None:
    cfg = DistillConfig(epochs=2, max_steps=5, seed=3)
    settings = TrainSettings.of(cfg)
    assert (settings.epochs, settings.max_steps, settings.seed) == (2.0, 5, 3)
    assert settings.max_seq_len == cfg.max_seq_len


def test_training_loss_goes_down(trained: tuple[Path, dict]) -> None:
    _, stats = trained
    assert stats["steps"] == 30
    assert stats["examples"] == 16
    assert stats["train_loss_last"] < 0.6 * stats["train_loss_first"]
    assert stats["eval_loss"] < stats["train_loss_first"]
    assert stats["completion_tokens"] < stats["train_tokens"]
    assert stats["dropped"] == {"too_long": 0} and stats["truncated"] == 0


def test_the_plan_follows_the_device(trained: tuple[Path, dict]) -> None:
    plan = trained[1]["plan"]
    if torch.cuda.is_available():
        assert plan["device"] == "cuda" and plan["gradient_checkpointing"]
        assert trained[1]["peak_gpu_bytes"] > 0
    else:
        assert (plan["device"], plan["precision"]) == ("cpu", "fp32")
        assert (plan["per_device_batch"], plan["grad_accum"]) == (FAST.batch_size, FAST.grad_accum)
    assert 0 < plan["estimate_gib"] < plan["free_gib"]


def test_outputs_are_published(trained: tuple[Path, dict]) -> None:
    from transformers import AutoConfig, AutoTokenizer

    out, stats = trained
    assert (out / "_SUCCESS").is_file()
    assert json.loads((out / "train_stats.json").read_text()) == stats
    config = AutoConfig.from_pretrained(str(out))
    assert config.architectures == ["LlamaForCausalLM"]
    assert config.use_cache
    assert AutoTokenizer.from_pretrained(str(out)).chat_template
    assert [p.name for p in out.parent.iterdir()] == ["model"]  # no temp folders left


def test_second_call_is_a_no_op(base: str, trained: tuple[Path, dict]) -> None:
    out, stats = trained
    weights = out / "model.safetensors"
    before = weights.stat().st_mtime_ns
    again = train_sft(base, _records(3), out, TrainSettings(max_steps=1))
    assert again == stats
    assert weights.stat().st_mtime_ns == before


def test_drop_and_truncate_counts(base: str, tmp_path: Path) -> None:
    records = _records(6)
    records[0]["messages"][1]["content"] = "word " * 400  # prompt alone is too long
    records[1]["completion"] = "long answer " * 200  # gets truncated
    settings = TrainSettings(batch_size=2, max_seq_len=128, max_steps=2, seed=1)
    stats = train_sft(base, records, tmp_path / "m", settings)
    assert stats["examples"] == 5
    assert stats["dropped"] == {"too_long": 1}
    assert stats["truncated"] == 1
    assert stats["steps"] == 2


def test_same_seed_same_model(base: str, tmp_path: Path) -> None:
    settings = TrainSettings(learning_rate=1e-3, batch_size=2, max_seq_len=128, max_steps=3, seed=5)
    a = train_sft(base, _records(8), tmp_path / "a", settings, log_every=1)
    b = train_sft(base, _records(8), tmp_path / "b", settings, log_every=1)
    assert a["train_loss_last"] == b["train_loss_last"]
    wa, wb = (
        load_file(str(tmp_path / "a" / "model.safetensors")),
        load_file(str(tmp_path / "b" / "model.safetensors")),
    )
    assert all(torch.equal(wa[k], wb[k]) for k in wa)


def test_empty_input_raises(base: str, tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="no training records"):
        train_sft(base, [], tmp_path / "m", FAST)
    records = _records(2)
    for r in records:
        r["messages"][1]["content"] = "word " * 400
    with pytest.raises(ValueError, match="dropped"):
        train_sft(base, records, tmp_path / "m", TrainSettings(max_seq_len=64))
    assert not (tmp_path / "m").exists()
