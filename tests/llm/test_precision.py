"""A real engine (tiny model, vLLM CPU build) runs in the precision ``maga.hardware``
resolves, and the stage that used it records that precision in its stats and the run
summary. The AVX2 case is forced with torch's and oneDNN's dispatch caps, so it runs on
any x86 test machine."""

import pytest

from maga.config import VLLMEngineConfig, load_config
from maga.llm import facts
from maga.llm.base import GenRequest
from maga.llm.jobs import ModelSpec, run_generation
from maga.models.builtin import resolve_model
from maga.runs.context import RunContext
from maga.runs.stage import StageStats, run_stage

pytestmark = [pytest.mark.slow]
ENGINE = VLLMEngineConfig(max_model_len=256, max_num_seqs=4, kv_cache_space_gib=1)


class _Generate:
    name, reads, writes = "gen", (), ()

    def run(self, ctx):
        spec = ModelSpec(label="tiny", path=resolve_model("builtin:tiny-random"),
                         engine=ENGINE.model_dump())  # fmt: skip
        req = GenRequest(messages=[{"role": "user", "content": "Harbours."}], max_tokens=4)
        out = run_generation(spec, [req])
        stats = StageStats()
        stats.docs_out = len(out.results)
        return stats


@pytest.mark.timeout(300)
def test_an_avx2_machine_runs_auto_in_float32_and_the_stage_records_it(tmp_path, monkeypatch):
    monkeypatch.setenv("ATEN_CPU_CAPABILITY", "avx2")  # inherited by the engine process
    monkeypatch.setenv("ONEDNN_MAX_CPU_ISA", "AVX2")
    facts.take()
    ctx = RunContext.create(load_config("tiny", [f"storage.root={tmp_path}"]), "t", "r1")
    stats = run_stage(ctx, _Generate())
    assert stats["docs_out"] == 1
    assert stats["engine_dtype"] == {"tiny": "float32"}
    assert stats["engine_isa"] == "avx2" and stats["engine_threads"] >= 1
    summary = ctx.storage.read_json(ctx.uri("summary.json"))
    assert summary["stages"]["gen"]["engine_dtype"] == {"tiny": "float32"}


class _GenerateInt8(_Generate):
    name = "gen_int8"

    def __init__(self, model: str) -> None:
        self.model = model

    def run(self, ctx):
        spec = ModelSpec(label="int8", path=self.model, engine=ENGINE.model_dump())
        req = GenRequest(messages=[{"role": "user", "content": "Harbours."}], max_tokens=4)
        out = run_generation(spec, [req])
        assert all(r.ok for r in out.results), [r.error for r in out.results]
        stats = StageStats()
        stats.docs_out = len([r for r in out.results if r.completion_tokens])
        return stats


@pytest.mark.timeout(300)
def test_an_int8_w8a8_model_runs_in_float32_on_an_avx2_machine(tmp_path, monkeypatch):
    """The demo's quantized students on an AVX2 CPU: float32 activations into vLLM's INT8
    GEMM. On an AMX machine under the AVX2 caps vLLM took its AMX int8 kernel, which
    takes only bf16/fp16 ("int8_scaled_mm_with_quant: expect A to be bfloat16 or half"),
    and the demo stopped at evaluate_quantized; the caps now hold for vLLM's AMX check."""
    from maga.quantize import quantize_model

    model = tmp_path / "tiny-w8a8"
    quantize_model(resolve_model("builtin:tiny-random"), model, "w8a8-int8")
    monkeypatch.setenv("ATEN_CPU_CAPABILITY", "avx2")
    monkeypatch.setenv("ONEDNN_MAX_CPU_ISA", "AVX2")
    facts.take()
    ctx = RunContext.create(load_config("tiny", [f"storage.root={tmp_path}"]), "t", "r1")
    stats = run_stage(ctx, _GenerateInt8(str(model)))
    assert stats["docs_out"] == 1
    assert stats["engine_dtype"] == {"int8": "float32"} and stats["engine_isa"] == "avx2"


def test_an_isa_cap_below_amx_hides_amx_from_vllm(monkeypatch):
    import torch

    from maga import hardware
    from maga.llm.vllm_backend import hide_capped_amx

    monkeypatch.setattr(torch.cpu, "_is_amx_tile_supported", lambda: True)
    monkeypatch.setattr(torch.cpu, "_is_amx_fp16_supported", lambda: True)
    amx = hardware.CPU(model="x", isa="amx", flags_isa="amx", cores=2)
    assert not hide_capped_amx(amx) and torch.cpu._is_amx_tile_supported()
    assert not hide_capped_amx(hardware.CPU(model="x", isa="avx2", flags_isa="avx2", cores=2))
    assert torch.cpu._is_amx_tile_supported()
    assert hide_capped_amx(hardware.CPU(model="x", isa="avx2", flags_isa="amx", cores=2))
    assert not torch.cpu._is_amx_tile_supported() and not torch.cpu._is_amx_fp16_supported()
