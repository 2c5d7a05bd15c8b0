"""A run stored on S3 (a real SeaweedFS server): the report and its Data Docs are built
from the objects and written back beside the run's summary.json."""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest

from maga.report import build_report
from maga.storage import Storage, join_uri
from tests.report.conftest import copy_try1
from tests.test_storage import use_s3_env

pytestmark = pytest.mark.slow


def test_report_for_a_run_on_s3(s3_server, tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    use_s3_env(monkeypatch, s3_server)
    root = f"s3://{s3_server.bucket}/{uuid.uuid4().hex}"
    local = copy_try1(tmp_path / "stage")
    for path in local.rglob("*"):  # the run's recorded root becomes the bucket prefix
        if path.is_file() and path.suffix in (".json", ".jsonl", ".md"):
            path.write_text(path.read_text().replace(str(tmp_path / "stage"), root))
    run_uri = join_uri(root, "runs", "maga_tool_models", "try1")
    storage = Storage()
    storage.upload_dir(local, run_uri)

    uri = build_report(run_uri, with_embeddings=False)
    assert uri == join_uri(run_uri, "report.html")
    page = storage.read_text(uri)
    assert "Data quality: maga_tool_models" in page and 'href="data_docs/index.html"' in page
    index = storage.read_text(join_uri(run_uri, "data_docs", "index.html"))
    assert index.count(">replayed<") == 6  # sample, ga_labels and sft read back from S3
    assert storage.list(join_uri(run_uri, "data_docs", "validations"), suffixes=(".html",))
