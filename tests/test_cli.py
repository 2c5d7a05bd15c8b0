import json

from maga.cli import main


def test_bad_override_exits_2_with_the_key(capsys):
    assert main(["run", "tool-models", "--config", "tiny", "--set", "sampling.size=zero"]) == 2
    assert "sampling.size" in capsys.readouterr().err


def test_unknown_profile_exits_2(capsys):
    assert main(["run", "tool-models", "--config", "nope"]) == 2
    assert "not found" in capsys.readouterr().err


def test_missing_corpus_is_named_and_keeps_the_run(tmp_path, capsys):
    args = [
        "run",
        "tool-models",
        "--config",
        "tiny",
        "--run-id",
        "r1",
        "--set",
        f"storage.root={tmp_path}",
        "--set",
        f"corpus.uri={tmp_path / 'none'}",
    ]
    assert main(args) == 4
    err = capsys.readouterr().err
    assert "corpus folder not found" in err and str(tmp_path / "none") in err
    assert "--run-id r1" in err
    assert (tmp_path / "runs" / "maga_tool_models" / "r1" / "config.json").exists()


def test_summary_prints_stages_and_gates(tmp_path, capsys):
    path = tmp_path / "summary.json"
    path.write_text(
        json.dumps(
            {
                "demo_models": True,
                "stages": {
                    "sample": {
                        "docs_in": 5,
                        "docs_out": 4,
                        "seconds": 1.5,
                        "dropped": {"too_short": 1},
                    }
                },
                "gates": {
                    "sample": {
                        "passed": False,
                        "reason": "sample: rows 4 < 16",
                        "report": "x/gate.md",
                    }
                },
            }
        )
    )
    assert main(["summary", str(path)]) == 0
    out = capsys.readouterr().out
    assert "too_short" in out and "FAILED" in out and "rows 4 < 16" in out
    assert "demo-model output" in out


def test_runner_keeps_engines_across_stages_and_both_demo_pipelines(tmp_path, monkeypatch, capsys):
    """``maga run`` wraps every stage in one engine pool sized by ``runner.keep_engines``;
    ``maga demo`` spans both pipelines with one pool (the engines themselves: tests/llm)."""
    import maga.cli as cli
    import maga.pipelines.cli_runs as cli_runs
    import maga.pipelines.tool_models as tool_models
    import maga.refresh.pipeline as refresh
    from maga.llm import pool as engine_pool

    seen = []

    def record(ctx, *args, **kwargs):
        seen.append((engine_pool._POOL, engine_pool._POOL.keep if engine_pool._POOL else None))
        return {}

    monkeypatch.setattr(tool_models, "run_all", record)
    monkeypatch.setattr(refresh, "run_all", record)
    monkeypatch.setattr(cli, "print_summary", lambda path: None)
    monkeypatch.setattr(cli_runs, "print_summary", lambda path: None)
    root = f"storage.root={tmp_path}"
    assert main(["run", "tool-models", "--config", "tiny", "--set", root,
                 "--set", "runner.keep_engines=3"]) == 0  # fmt: skip
    assert main(["run", "corpus-refresh", "--config", "tiny", "--set", root]) == 0
    assert [keep for _, keep in seen] == [3, 1] and engine_pool._POOL is None
    assert main(["run", "tool-models", "--config", "tiny", "--set", "runner.keep_engines=0"]) == 2
    assert "runner.keep_engines" in capsys.readouterr().err

    seen.clear()

    def tool_run(*args):
        record(None)
        return "x/summary.json"

    def refresh_run(*args):
        record(None)
        return "y/summary.json", True

    monkeypatch.setattr(cli_runs, "run_tool_models", tool_run)
    monkeypatch.setattr(cli_runs, "run_corpus_refresh", refresh_run)
    monkeypatch.setattr("maga.demo.write_demo_shards", lambda folder: [])
    monkeypatch.setattr(tool_models, "build_run_report", lambda uri: None)
    assert main(["demo"]) == 0
    (pool_a, keep_a), (pool_b, _) = seen
    assert pool_a is pool_b and keep_a == 5  # one pool, sized by the demo profile
    assert "0 engine starts (0 s summed" in capsys.readouterr().out and engine_pool._POOL is None
