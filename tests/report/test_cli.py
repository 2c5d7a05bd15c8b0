"""`maga report RUN_URI` builds the page and prints where it went."""

from __future__ import annotations

from pathlib import Path

from maga.cli import main


def test_cli_builds_report(try1_run: Path, capsys) -> None:
    assert main(["report", str(try1_run), "--no-data-docs", "--no-embeddings"]) == 0
    out = capsys.readouterr().out.strip().splitlines()[-1]
    assert out == str(try1_run / "report.html")
    page = (try1_run / "report.html").read_text()
    assert "Data quality: maga_tool_models" in page and "Demo-model output" in page
    assert not (try1_run / "data_docs").exists()
