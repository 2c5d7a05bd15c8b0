"""`make gpu-check`'s CPU dry mode: every input the GPU run loads is built here (an FP8
compressed-tensors Qwen3, two LoRA adapters, the reformulate step's requests) and each
step prints one line; without a GPU the real mode refuses with a clear line."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from maga.bench import gpu_throughput
from maga.deploy.gpu_check import STEPS, run

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.timeout(300)
def test_dry_run_builds_every_input_and_prints_one_line_per_step(tmp_path: Path) -> None:
    out = tmp_path / "out"
    proc = subprocess.run(
        ["scripts/gpu-check.sh", "--dry-run", "--workdir", str(tmp_path / "work")],
        cwd=ROOT, capture_output=True, text=True, timeout=280,
        env={**os.environ, "PYTHONPATH": str(ROOT), "OUT": str(out),
             "GPU_PYTHON": sys.executable},
    )  # fmt: skip
    assert proc.returncode == 0, proc.stdout + (out / "gpu-check.log").read_text()[-3000:]
    lines = (out / "gpu-check.txt").read_text().splitlines()
    assert [ln.split()[0] for ln in lines] == ["prepare", *STEPS]
    assert all(ln.split()[1] == "DRY" for ln in lines), lines
    work = tmp_path / "work"
    qcfg = json.loads((work / "qwen3-tiny-fp8" / "config.json").read_text())
    assert qcfg["architectures"] == ["Qwen3ForCausalLM"]
    q = qcfg["quantization_config"]
    assert q["quant_method"] == "compressed-tensors" and q["format"] == "float-quantized"
    for i in (1, 2):  # adapters served on the FP8 checkpoint, not on the bf16 model
        meta = json.loads((work / f"lora-{i}" / "maga_adapter.json").read_text())
        assert (work / f"lora-{i}" / meta["base"]).resolve() == (work / "qwen3-tiny-fp8").resolve()
    ga = (work / "ga.jsonl").read_text().splitlines()
    assert len(ga) == 32 and all(json.loads(x)["constraint"]["json_schema"] for x in ga)
    assert len((work / "tp.jsonl").read_text().splitlines()) == 4 * gpu_throughput.PROMPTS


@pytest.mark.timeout(60)
def test_without_a_gpu_the_real_mode_says_so(tmp_path: Path) -> None:
    import torch

    if torch.cuda.is_available():
        pytest.skip("a GPU is present: the real mode runs (make gpu-check)")
    assert run(False, tmp_path, tmp_path / "out") == 2
    assert (tmp_path / "out" / "gpu-check.txt").read_text().startswith("gpu_check FAIL no CUDA")


@pytest.mark.timeout(60)
def test_measured_figures_go_to_the_throughput_store_under_the_gpu(tmp_path: Path) -> None:
    from maga import throughput

    result = {"gpu": "NVIDIA H200", "skipped": ["qwen3-1.7B-shape bf16"], "rows": [
        {"name": "bf16 seqs256", "model": "rand135", "replicas": 1, "engine": {},
         "stream": [10.0, 12.0, 11.0], "stream_tps": 11.0, "tokens_per_s": 11.0},
        {"name": "fp8 seqs256", "error": "RuntimeError: boom"}]}  # fmt: skip
    path = tmp_path / "throughput.json"
    path.write_text(json.dumps(result))
    assert gpu_throughput.main(["--from-json", str(path), "--record", str(tmp_path)]) == 0
    hw = {**throughput.hardware(gpu="NVIDIA H200", gpu_count=1)}
    rows = throughput.entries(str(tmp_path), "gpu:NVIDIA H200x1")
    assert [(r["model"], r["tokens_per_s"], r["hardware"]["gpu"]) for r in rows] == [
        ("rand135", 11.0, hw["gpu"])
    ]


def test_structured_output_counts_as_json_the_way_the_pipeline_reads_it() -> None:
    from maga.deploy.gpu_check import _is_json

    # xgrammar's JSON grammar lets raw control characters into strings (seen on the H200)
    assert _is_json('{"pairs": [{"genre": "x\x07y"}]}')
    assert not _is_json('{"pairs": [{"genre": "cut short')
