"""derive_student on the tiny random Llama: layer truncation, copies and bad specs."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from maga.distill import derive_student
from maga.models.builtin import TINY, resolve_model


@pytest.fixture(scope="module")
def teacher() -> Path:
    return Path(resolve_model(TINY))


def _weights(folder: Path) -> dict[str, torch.Tensor]:
    return load_file(str(folder / "model.safetensors"))


def test_teacher_layers_keeps_the_first_layers(teacher: Path, tmp_path: Path) -> None:
    out = tmp_path / "student"
    info = derive_student(teacher, "teacher-layers:1", out)

    full, kept = _weights(teacher), _weights(out)
    assert set(kept) == {k for k in full if ".layers.1." not in k}
    assert any(".layers.0." in k for k in kept)
    for name, tensor in kept.items():
        assert torch.equal(tensor, full[name]), name
    config = json.loads((out / "config.json").read_text())
    assert config["num_hidden_layers"] == 1
    assert config["architectures"] == ["LlamaForCausalLM"]
    assert info["spec"] == "teacher-layers:1"
    assert info["layers"] == 1
    assert 0 < info["parameters"] < derive_student(teacher, "teacher", tmp_path / "t")["parameters"]
    assert (out / "tokenizer.json").is_file()
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []


def test_teacher_spec_copies_all_weights(teacher: Path, tmp_path: Path) -> None:
    info = derive_student(str(teacher), "teacher", tmp_path / "copy")
    full, copy = _weights(teacher), _weights(tmp_path / "copy")
    assert set(copy) == set(full)
    assert all(torch.equal(copy[k], full[k]) for k in full)
    assert info["layers"] == 2


def test_truncated_student_runs(teacher: Path, tmp_path: Path) -> None:
    from transformers import AutoModelForCausalLM, AutoTokenizer

    derive_student(teacher, "teacher-layers:1", tmp_path / "s")
    model = AutoModelForCausalLM.from_pretrained(str(tmp_path / "s"))
    tok = AutoTokenizer.from_pretrained(str(tmp_path / "s"))
    ids = tok("a short test", return_tensors="pt")["input_ids"]
    with torch.no_grad():
        logits = model(input_ids=ids).logits
    assert logits.shape == (1, ids.shape[1], model.config.vocab_size)


@pytest.mark.parametrize("spec", ["teacher-layers:0", "teacher-layers:3", "teacher-layers:x"])
def test_bad_layer_counts(teacher: Path, tmp_path: Path, spec: str) -> None:
    with pytest.raises(ValueError, match="teacher-layers"):
        derive_student(teacher, spec, tmp_path / "s")
    assert not (tmp_path / "s").exists()


def test_folder_spec(teacher: Path, tmp_path: Path) -> None:
    derive_student(teacher, "teacher-layers:1", tmp_path / "base")
    info = derive_student(teacher, str(tmp_path / "base"), tmp_path / "s")
    assert info["layers"] == 1
    # Publishing again replaces the folder in place.
    assert derive_student(teacher, "teacher", tmp_path / "s")["layers"] == 2


def test_folder_spec_must_be_a_model_folder(teacher: Path, tmp_path: Path) -> None:
    missing = str(tmp_path / "nowhere")
    with pytest.raises(ValueError, match="nowhere"):
        derive_student(teacher, missing, tmp_path / "s")
    (tmp_path / "empty").mkdir()
    with pytest.raises(ValueError, match="config.json"):
        derive_student(teacher, str(tmp_path / "empty"), tmp_path / "s")
    assert not (tmp_path / "s").exists()
