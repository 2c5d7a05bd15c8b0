"""distill.adapter=lora: typed settings that fail early, and the tool-model stages on the
tiny model (train both SLMs as adapters of one shared base, quantize stage with scheme
none, register) down to the refresh's two specs sharing one engine key."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from maga.config import ConfigError, DistillConfig, LoRAServingConfig, load_config
from maga.distill import TrainSettings

LORA = ["distill.adapter=lora", "quantize.scheme=none"]


def test_lora_settings_are_typed_and_fail_early() -> None:
    cfg = load_config("tiny", LORA)
    assert cfg.distill.adapter == "lora" and cfg.distill.lora_rank == 8
    assert load_config("tiny").distill.adapter == "full"  # today's default
    with pytest.raises(ConfigError, match="cannot serve LoRA adapters on a w8a8-int8"):
        load_config("tiny", ["distill.adapter=lora"])  # tiny quantizes to w8a8-int8
    with pytest.raises(ConfigError, match="LoRA adapters on an fp8-w8a8"):
        load_config("gpu", ["distill.adapter=lora"])  # gpu quantizes to fp8-w8a8
    assert load_config("gpu", LORA).quantize.scheme == "none"
    with pytest.raises(ConfigError, match="adapter"):
        load_config("tiny", ["distill.adapter=qlora"])
    with pytest.raises(ConfigError, match="lora_rank"):
        load_config("tiny", [*LORA, "distill.lora_rank=300"])
    with pytest.raises(ConfigError, match="lora_targets"):
        load_config("tiny", [*LORA, "distill.lora_targets=[]"])
    with pytest.raises(ConfigError, match="max_rank 8 is below distill.lora_rank 16"):
        load_config("tiny", [*LORA, "distill.lora_rank=16", "student_engine.lora.max_rank=8"])
    with pytest.raises(ConfigError, match="max_rank"):
        load_config("tiny", ["student_engine.lora.max_rank=12"])  # not a vLLM rank


def test_engine_rank_is_the_smallest_vllm_takes() -> None:
    assert LoRAServingConfig.for_rank(1).max_rank == 8
    assert LoRAServingConfig.for_rank(8).max_rank == 8
    assert LoRAServingConfig.for_rank(9).max_rank == 16
    with pytest.raises(ValueError, match="exceeds"):
        LoRAServingConfig.for_rank(257)


def test_train_settings_carry_the_adapter_fields() -> None:
    s = TrainSettings.of(DistillConfig(adapter="lora", lora_rank=4, lora_targets=["q_proj"]))
    assert (s.adapter, s.lora_rank, s.lora_targets) == ("lora", 4, ("q_proj",))
    assert TrainSettings.of({}).adapter == "full"
    with pytest.raises(ValueError, match="adapter must be"):
        TrainSettings.of({"adapter": "half"})


def _sft(n: int, kind: str) -> list[dict]:
    return [
        {
            "messages": [{"role": "user", "content": f"{kind} document {i} about rivers."}],
            "completion": f'{{"pairs": [{{"genre": "note {i}", "audience": "kids"}}]}}',
        }
        for i in range(n)
    ]


@pytest.mark.slow
@pytest.mark.timeout(600)
def test_stages_train_adapters_of_one_base_and_register_them(tmp_path: Path) -> None:
    from maga.distill.stage import SHARED_BASE, TrainSLMStage
    from maga.jsonl import write_jsonl
    from maga.llm.jobs import EngineSession
    from maga.llm.models import student_spec
    from maga.models.adapters import base_of, is_adapter
    from maga.models.materialize import model_dir
    from maga.pipelines.tool_models import DAG_ID
    from maga.quantize.stage import QuantizeStage
    from maga.refresh.toolmodels import local_model_dir, resolve_tool_models
    from maga.registry.stage import RegisterStage
    from maga.runs.context import RunContext
    from maga.runs.stage import run_stage
    from maga.runs.summary import refresh_summary

    cfg = load_config("tiny", [*LORA, f"storage.root={tmp_path}", "distill.max_steps=2",
                               "distill.max_seq_len=128"])  # fmt: skip
    ctx = RunContext.create(cfg, DAG_ID, "lora")
    for kind in ("ga", "reform"):
        write_jsonl(ctx.storage, ctx.uri("teacher_judge", f"sft_{kind}.jsonl"), _sft(8, kind))
    refresh_summary(ctx)
    ga_stats = run_stage(ctx, TrainSLMStage("ga"))
    rf_stats = run_stage(ctx, TrainSLMStage("reform"))
    base = ctx.local_dir(*SHARED_BASE)
    assert (base / "config.json").is_file()
    assert "student" in ga_stats and "student" not in rf_stats  # derived once
    for stage in ("train_ga_slm", "train_reformulation_slm"):
        adapter = ctx.local_dir(stage, "model")
        assert is_adapter(adapter) and not (adapter / "config.json").exists()
        assert Path(base_of(adapter)) == base
        assert not ctx.local_dir(stage, "base").exists()  # moved to the shared folder
        training = json.loads((adapter / "train_stats.json").read_text())
        assert 0 < training["trainable_parameters"] < ga_stats["student"]["parameters"] / 5
    ga_one_engine = student_spec(cfg, model_dir(ctx, "train_ga_slm", "model"), "ga")  # eval
    assert ga_one_engine.path == str(base) and ga_one_engine.lora is not None

    run_stage(ctx, QuantizeStage())  # scheme none: adapters re-published on the same base
    for role in ("ga_slm", "reformulation_slm"):
        assert Path(base_of(model_dir(ctx, "quantize", role))) == base
    for name in ("eval_slm/table1.json", "eval_quantized/comparison.json"):
        ctx.storage.write_json(ctx.uri(*name.split("/")), {})
    refresh_summary(ctx)
    run_stage(ctx, RegisterStage())

    tm = resolve_tool_models(cfg, ctx.storage, "latest")
    assert tm["models"] == {"ga_slm": str(base), "reformulation_slm": str(base)}
    assert set(tm["adapters"]) == {"ga_slm", "reformulation_slm"}
    specs = {  # what reformulate.model_specs builds from the run plan's tool_models
        role: student_spec(cfg, local_model_dir(ctx.storage, tm["models"][role], 1), role,
                           local_model_dir(ctx.storage, tm["adapters"][role], 1))
        for role in ("ga_slm", "reformulation_slm")
    }  # fmt: skip
    ga, rf = specs["ga_slm"], specs["reformulation_slm"]
    assert ga.lora != rf.lora
    assert EngineSession._engine_key(ga) == EngineSession._engine_key(rf)
