"""``maga bench-gpu``: its plan, cost arithmetic and dry mode here; its measurement loop
on vLLM's CPU build with the tiny model (no GPU is lent to this project's CI)."""

import json

import pytest

from maga.bench import gpu
from maga.cli import main as cli


@pytest.mark.timeout(10)
def test_gpu_hours_per_billion_tokens():
    assert gpu.gpu_hours_per_billion(9259.26) == pytest.approx(30.0, abs=0.01)  # FinePhrase
    assert gpu.gpu_hours_per_billion(40_000) == pytest.approx(6.94, abs=0.01)
    assert gpu.gpu_hours_per_billion(10_000, gpus=2) == pytest.approx(55.56, abs=0.01)
    assert gpu.gpu_hours_per_billion(0) is None


@pytest.mark.timeout(10)
def test_plan_covers_both_models_precisions_and_speculation():
    configs = gpu.plan("shape:smollm2-135m", "shape:qwen3-8b", ["bf16", "fp8"],
                       ["off", "ngram"], "gpu")  # fmt: skip
    assert len(configs) == 8 and not any(c["skip"] for c in configs)
    cpu = gpu.plan("m", None, ["bf16", "fp8"], ["off"], "cpu")
    assert [c["skip"] is None for c in cpu] == [True, False]  # no FP8 on the CPU build
    fp8 = gpu.engine_args({**configs[3]}, "gpu", 256, 520, 0.8)
    # "fp8" is the pipeline's compressed-tensors checkpoint: vLLM reads the scheme from it
    assert "quantization" not in fp8 and fp8["speculative_config"]["method"] == "ngram"
    assert "quantization" not in gpu.engine_args(configs[0], "gpu", 256, 520, 0.8)
    online = gpu.engine_args({"precision": "fp8-online", "speculation": "off"}, "gpu", 256, 520,
                             0.8)  # fmt: skip
    assert online["quantization"] == "fp8"
    with pytest.raises(ValueError, match="precision"):
        gpu.plan("m", None, ["int3"], ["off"], "gpu")
    with pytest.raises(ValueError, match="shape"):
        gpu.plan("shape:gpt-9", None, ["bf16"], ["off"], "gpu")


@pytest.mark.timeout(10)
def test_prompts_repeat_their_own_spans_and_teacher_ratio():
    ps = gpu.prompts(3, 40, vocab=2048)
    assert all(len(p) == 40 and p[:20] == p[20:40] for p in ps)
    assert ps == gpu.prompts(3, 40, vocab=2048)  # seeded
    res = [
        {"role": "slm", "precision": "bf16", "speculation": "off", "tokens_per_s": 16000.0},
        {"role": "teacher", "precision": "bf16", "speculation": "off", "tokens_per_s": 4000.0},
        {"role": "slm", "precision": "fp8", "speculation": "off", "tokens_per_s": 17000.0},
    ]
    assert gpu.teacher_over_slm(res) == {"bf16/off": 4.0}


@pytest.mark.timeout(30)
def test_dry_run_starts_nothing_and_prints_engine_args(tmp_path, capsys):
    out = tmp_path / "plan.json"
    assert cli(["bench-gpu", "--dry-run", "--out", str(out)]) == 0
    text = capsys.readouterr().out
    assert text.startswith("DRY RUN") and text.count("\n- ") == 4  # 2 models x bf16, fp8
    data = json.loads(out.read_text())
    assert data["dry_run"] and all("engine_args" in c for c in data["configs"])
    with pytest.raises(SystemExit):
        cli(["bench-gpu", "--dry-run", "--speculation", "medusa"])


@pytest.mark.slow
@pytest.mark.timeout(400)
def test_cpu_run_measures_with_a_real_engine_and_records(tmp_path, capsys):
    from maga.models.builtin import resolve_model
    from maga.throughput import last_measured

    tiny = resolve_model("builtin:tiny-random")
    out = tmp_path / "f.json"
    args = ["bench-gpu", "--device", "cpu", "--slm", tiny, "--teacher", "",
            "--precisions", "bf16,fp8", "--speculation", "off", "--prompts", "6",
            "--in-tokens", "24", "--out-tokens", "10", "--max-num-seqs", "8",
            "--out", str(out), "--record", str(tmp_path)]  # fmt: skip
    assert cli(args) == 0
    f = json.loads(out.read_text())
    bf16, fp8 = f["configs"]
    assert bf16["output_tokens"] == 60 and bf16["tokens_per_s"] > 0, bf16
    assert bf16["gpu_hours_per_billion"] == gpu.gpu_hours_per_billion(bf16["tokens_per_s"])
    assert fp8["tokens_per_s"] is None and "FP8" in fp8["skip"]
    assert last_measured(root=str(tmp_path), model=tiny) == bf16["tokens_per_s"]
    assert "| " + tiny in capsys.readouterr().out


@pytest.mark.timeout(300)
def test_fp8_is_the_compressed_tensors_checkpoint_built_in_a_process_of_its_own(
    tmp_path, monkeypatch
):
    """Issue 23 (3): bench-gpu measures the checkpoint the pipeline serves, and the
    process that will start the engine builds nothing itself."""
    from pathlib import Path

    from maga.models.builtin import resolve_model

    def not_here(*args):
        raise AssertionError("built in the process that starts the engine")

    monkeypatch.setattr(gpu, "build", not_here)
    tiny = resolve_model("builtin:tiny-random")
    path = gpu.resolve(tiny, tmp_path / "cache", "fp8")
    q = json.loads((Path(path) / "config.json").read_text())["quantization_config"]
    assert (q["quant_method"], q["format"]) == ("compressed-tensors", "float-quantized")
