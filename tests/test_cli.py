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
