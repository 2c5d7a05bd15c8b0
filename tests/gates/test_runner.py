import pytest

from maga.config import load_config
from maga.gates.core import GateFailed
from maga.gates.runner import run_tool_models_gate
from maga.pipelines.tool_models import run_step, start_run


def test_gate_verdict_is_written_once_and_enforced_on_rerun(tmp_path):
    ctx = start_run("tiny", [f"storage.root={tmp_path}", "gates.sample_min_docs=100"], "g")
    run_step(ctx, "sample_labeling_data")
    with pytest.raises(GateFailed, match="rows 16 < 100"):
        run_tool_models_gate(ctx, "sample")
    gate_json = tmp_path / "runs" / "maga_tool_models" / "g" / "gates" / "sample" / "gate.json"
    before = gate_json.read_bytes()
    with pytest.raises(GateFailed, match="rows 16 < 100"):
        run_tool_models_gate(ctx, "sample")
    assert gate_json.read_bytes() == before
    summary = ctx.storage.read_json(ctx.uri("summary.json"))
    assert summary["gates"]["sample"]["passed"] is False
    assert (gate_json.parent / "gate.md").read_text().count("FAILED") >= 1


def test_passing_gate_returns_checks(tmp_path):
    ctx = start_run("tiny", [f"storage.root={tmp_path}"], "ok")
    run_step(ctx, "sample_labeling_data")
    result = run_tool_models_gate(ctx, "sample")
    assert result["passed"] and {c["name"] for c in result["checks"]} >= {"rows", "id_unique"}
    assert load_config("tiny").gates.sample_min_docs <= 16
