import pytest

from maga.config import load_config
from maga.registry.manifest import (
    RegisteredModel,
    ToolModelsManifest,
    ToolModelsNotFound,
    find_manifest,
    read_manifest,
    registry_root,
    write_version,
)
from maga.registry.stage import choose_version
from maga.runs.context import RunContext


def ctx_for(tmp_path, run_id):
    return RunContext.create(load_config("tiny", [f"storage.root={tmp_path}"]), "d", run_id)


def manifest(version: int, run_uri: str) -> ToolModelsManifest:
    models = {r: RegisteredModel(uri=f"/m/{r}") for r in ("ga_slm", "reformulation_slm")}
    return ToolModelsManifest(version=version, run_uri=run_uri, models=models)


def test_versions_increase_and_a_rerun_reuses_its_own(tmp_path):
    a, b = ctx_for(tmp_path, "a"), ctx_for(tmp_path, "b")
    root = registry_root(a.root)
    assert choose_version(a) == 1
    write_version(a.storage, root, manifest(1, a.run_uri))
    assert choose_version(a) == 1
    assert choose_version(b) == 2
    write_version(b.storage, root, manifest(2, b.run_uri))
    assert choose_version(ctx_for(tmp_path, "c")) == 3


def test_round_trip_latest_and_clear_errors(tmp_path):
    ctx = ctx_for(tmp_path, "a")
    root = registry_root(ctx.root)
    with pytest.raises(ToolModelsNotFound, match="run the maga_tool_models DAG first"):
        find_manifest(ctx.storage, root, "latest")
    m = manifest(1, ctx.run_uri)
    m.models["ga_slm"].quantized_uri = "/q/ga"
    uri = write_version(ctx.storage, root, m)
    assert find_manifest(ctx.storage, root, "latest") == uri == find_manifest(ctx.storage, root, 1)
    back = read_manifest(ctx.storage, uri)
    assert back.models["ga_slm"].serving_uri == "/q/ga"
    assert back.models["reformulation_slm"].serving_uri == "/m/reformulation_slm"
    with pytest.raises(ToolModelsNotFound, match="version 7 not found"):
        find_manifest(ctx.storage, root, "7")
    with pytest.raises(ValueError, match="a number or 'latest'"):
        find_manifest(ctx.storage, root, "newest")
    ctx.storage.write_json(uri, {"version": 1, "models": {"ga_slm": {}}})
    with pytest.raises(
        ToolModelsNotFound, match=r"not a valid tool-models manifest: models\.ga_slm\.uri"
    ):
        read_manifest(ctx.storage, uri)
    with pytest.raises(ToolModelsNotFound, match="no model for reformulation_slm"):
        manifest(1, "").model_copy(update={"models": {}}).model_for("reformulation_slm")


def test_the_refresh_serves_the_trained_student_where_the_quantized_one_ran_slower():
    from maga.quantize.serve import choose_served

    before = {"ga_slm": 100.0, "reform_slm": 100.0}
    after = {"ga_slm": 95.0, "reform_slm": 60.0}  # INT8 on an AVX2 CPU: one role much slower
    served = choose_served("faster", 0.1, before, after)
    assert served["ga_slm"]["model"] == "quantized"  # within the margin: noise, keep INT8
    assert served["reformulation_slm"]["model"] == "trained"
    assert "60.0 tok/s" in served["reformulation_slm"]["why"]
    always = choose_served("quantized", 0.1, before, after)
    assert {p["model"] for p in always.values()} == {"quantized"}
    unknown = choose_served("faster", 0.1, before, {"ga_slm": None})
    assert {p["model"] for p in unknown.values()} == {"quantized"}


def test_registered_models_follow_the_choice_full_and_lora(tmp_path):
    from maga.registry.stage import _models

    ctx = ctx_for(tmp_path, "a")
    quant = {"artifacts": {"ga_slm": "/q/ga", "reformulation_slm": "/q/rf", "base": "/q/base"}}
    served = {"ga_slm": {"model": "quantized"}, "reformulation_slm": {"model": "trained"}}
    models = _models(ctx, quant, served)
    assert models["ga_slm"].serving_uri == "/q/ga"
    assert models["reformulation_slm"].serving_uri == ctx.uri("train_reformulation_slm", "model")
    assert _models(ctx, quant, None)["reformulation_slm"].serving_uri == "/q/rf"  # older runs
    from maga.distill.stage import SHARED_BASE

    cfg = load_config("tiny", [f"storage.root={tmp_path}", "distill.adapter=lora",
                              "quantize.scheme=none"])  # fmt: skip
    lora = RunContext.create(cfg, "d", "b")
    shared = _models(lora, quant, served)  # one base for both roles: quantized for both or none
    assert {m.serving_uri for m in shared.values()} == {lora.uri(*SHARED_BASE)}
    assert {m.serving_uri for m in _models(lora, quant, None).values()} == {"/q/base"}
