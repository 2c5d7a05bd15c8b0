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


class ForgetsOutput(CountingStage):
    name = "forgets"
    writes = ("forgets/out.json", "forgets/model/")

    def run(self, ctx):
        self.calls += 1
        return StageStats()


def test_a_stage_that_skips_a_declared_output_does_not_look_finished(ctx):
    stage = ForgetsOutput()
    with pytest.raises(RuntimeError, match="forgets/out.json, forgets/model/"):
        run_stage(ctx, stage)
    assert not ctx.storage.exists(ctx.uri("forgets", "_SUCCESS"))
    ctx.storage.write_json(ctx.uri("forgets", "out.json"), {})
    ctx.storage.write_text(ctx.uri("forgets", "model", "config.json"), "{}")
    run_stage(ctx, stage)  # every declared output there: finished
    assert ctx.storage.exists(ctx.uri("forgets", "_SUCCESS"))


# --- shard steps: the same runner shape for the corpus refresh's per-shard work --------


class Folders:
    def __init__(self, root: str, key: str = "k1") -> None:
        self.key, self.staging = key, f"{root}/_staging/{key}/fp"

    def stage(self, *parts: str) -> str:
        return "/".join([self.staging, *parts])


def _gate(passed: bool):
    from maga.gates.core import GateResult

    return GateResult(gate="demo_gate", artifact="shard k1", passed=passed, checks=[],
                      reason="" if passed else "too many bad records", ge_success=passed,
                      ge_statistics={}, created_at="2026-12-03T00:00:00Z")  # fmt: skip


def test_shard_step_stages_once_rechecks_its_gate_and_records_the_outcome(ctx, tmp_path):
    from maga.gates.core import GateFailed
    from maga.runs.stage import ShardStep, run_shard_step, shard_outcome, step_record

    calls, threshold = [], {"max": 5}

    def work(w):
        calls.append(w.shard["key"])
        return {"records": 4, "bad": 3}

    step = ShardStep("gate", needs=(), work=work,
                     check=lambda w, stats: _gate(stats["bad"] <= threshold["max"]))  # fmt: skip
    paths, shard = Folders(str(tmp_path / "out")), {"key": "k1"}
    assert run_shard_step(ctx, shard, step, paths) == {"records": 4, "bad": 3}
    assert step_record(ctx, "k1", "gate")["status"] == "ok"
    threshold["max"] = 2  # a stricter gate applies to the staged work, without redoing it
    with pytest.raises(GateFailed):
        run_shard_step(ctx, shard, step, paths)
    assert calls == ["k1"]
    record = step_record(ctx, "k1", "gate")
    assert (record["status"], record["reason"]) == ("stopped", "too many bad records")
    assert record["stats"] == {"records": 4, "bad": 3} and record["seconds"] >= 0
    assert shard_outcome(ctx, "k1")["status"] == "stopped"
    assert ctx.storage.read_json(ctx.uri("gates", "demo_gate", "gate.json"))["passed"] is False


def test_shard_step_names_a_missing_upstream_step(ctx, tmp_path):
    from maga.runs.stage import ShardStep, run_shard_step, save_staged

    paths = Folders(str(tmp_path / "out"))
    step = ShardStep("clean", needs=("gate", "reformulate"), work=lambda w: w.inputs)
    save_staged(ctx.storage, paths, "gate", {"chunks": 1})
    with pytest.raises(FileNotFoundError, match="clean k1: reformulate not done"):
        run_shard_step(ctx, {"key": "k1"}, step, paths)
    save_staged(ctx.storage, paths, "reformulate", {"docs": 2})
    got = run_shard_step(ctx, {"key": "k1"}, step, paths)
    assert got == {"gate": {"chunks": 1}, "reformulate": {"docs": 2}}  # the needs' stats


def test_an_unstaged_step_runs_every_time(ctx, tmp_path):
    from maga.runs.stage import ShardStep, run_shard_step, staged

    calls = []
    step = ShardStep("validate", needs=(), work=lambda w: calls.append(1) or {"n": len(calls)},
                     staged=False)  # fmt: skip
    paths = Folders(str(tmp_path / "out"))
    run_shard_step(ctx, {"key": "k1"}, step, paths)
    assert run_shard_step(ctx, {"key": "k1"}, step, paths) == {"n": 2}
    assert staged(ctx.storage, paths, "validate") is None
