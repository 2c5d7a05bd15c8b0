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
