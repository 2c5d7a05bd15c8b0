import pytest

from maga.config import load_config
from maga.runs.context import RunConfigMismatch, RunContext, safe_run_id
from maga.runs.stage import StageStats, run_stage


class CountingStage:
    name = "count"
    reads: tuple[str, ...] = ()
    writes = ("count/out.json",)

    def __init__(self):
        self.calls = 0

    def run(self, ctx):
        self.calls += 1
        ctx.storage.write_json(ctx.uri("count", "out.json"), {"n": self.calls})
        stats = StageStats(docs_in=3, docs_out=2)
        stats.drop("too_short")
        stats.artifacts["out"] = ctx.uri("count", "out.json")
        return stats


class NeedsInput(CountingStage):
    name = "needs"
    reads = ("count/missing.jsonl",)


@pytest.fixture
def ctx(tmp_path):
    return RunContext.create(load_config("tiny", [f"storage.root={tmp_path}"]), "dag", "manual__1")


def test_run_id_made_path_safe():
    assert safe_run_id("manual__2026-11-23T08:00:00+00:00") == "manual__2026-11-23T08_00_00_00_00"


def test_stage_runs_once_and_rerun_changes_nothing(ctx):
    stage = CountingStage()
    first = run_stage(ctx, stage)
    out = ctx.storage.read_bytes(ctx.uri("count", "out.json"))
    second = run_stage(ctx, stage)
    assert stage.calls == 1
    assert first == second
    assert ctx.storage.read_bytes(ctx.uri("count", "out.json")) == out
    assert first["dropped"] == {"too_short": 1} and first["seconds"] >= 0


def test_summary_collects_stage_stats(ctx):
    run_stage(ctx, CountingStage())
    summary = ctx.storage.read_json(ctx.uri("summary.json"))
    assert summary["stages"]["count"]["docs_out"] == 2
    assert summary["artifacts"]["count.out"].endswith("count/out.json")
    assert summary["demo_models"] is True and "demo" in summary["note"]


def test_missing_inputs_are_named(ctx):
    with pytest.raises(FileNotFoundError, match="count/missing.jsonl"):
        run_stage(ctx, NeedsInput())


def test_same_run_id_with_other_config_is_refused(tmp_path, ctx):
    again = RunContext.create(ctx.config, "dag", "manual__1")
    assert again.run_uri == ctx.run_uri
    other = load_config("tiny", [f"storage.root={tmp_path}", "sampling.size=20"])
    with pytest.raises(RunConfigMismatch, match="different configuration"):
        RunContext.create(other, "dag", "manual__1")
    loaded = RunContext.from_run_uri(ctx.run_uri, "dag", "manual__1")
    assert loaded.config == ctx.config


def test_resume_is_refused_after_a_prompt_template_changed(tmp_path, monkeypatch, request):
    import shutil

    from maga.prompts import render

    cfg = load_config("tiny", [f"storage.root={tmp_path}"])
    RunContext.create(cfg, "maga_tool_models", "r1")
    RunContext.create(cfg, "maga_tool_models", "r1")  # same templates: resumes

    templates = tmp_path / "templates"
    shutil.copytree(render.TEMPLATE_DIR, templates)
    (templates / "judge.user.txt").write_text("Score it.\n${rewrite}")
    monkeypatch.setattr(render, "TEMPLATE_DIR", templates)
    render.load_template.cache_clear()
    request.addfinalizer(render.load_template.cache_clear)
    with pytest.raises(RunConfigMismatch, match="other prompt templates"):
        RunContext.create(cfg, "maga_tool_models", "r1")
    RunContext.create(cfg, "maga_tool_models", "r2")  # a new run id starts fresh
