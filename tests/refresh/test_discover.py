"""Discovery errors that must be readable, and tool-model version resolution."""

from __future__ import annotations

import pytest

from maga.config import load_config
from maga.corpus.reader import CorpusError
from maga.refresh.pipeline import DAG_ID, discover
from maga.refresh.toolmodels import ToolModelsNotFound, resolve_tool_models
from maga.runs.context import RunContext
from maga.storage import Storage
from tests.refresh.helpers import docs, make_registry


def test_builtin_source_is_refused(tmp_path):
    cfg = load_config("tiny", [f"storage.root={tmp_path}"])
    with pytest.raises(CorpusError, match="built-in corpus"):
        discover(RunContext.create(cfg, DAG_ID, "r1"))


def test_missing_registry_names_the_fix(tmp_path):
    (tmp_path / "src").mkdir()
    Storage().write_text(str(tmp_path / "src" / "a.jsonl"), '{"id": "1", "text": "t"}\n')
    cfg = load_config(
        "tiny", [f"storage.root={tmp_path}", f"refresh.source_uri={tmp_path / 'src'}"]
    )
    with pytest.raises(ToolModelsNotFound, match="run the maga_tool_models DAG first"):
        discover(RunContext.create(cfg, DAG_ID, "r1"))


def test_version_resolution(tmp_path):
    storage = Storage()
    make_registry(storage, str(tmp_path), "/m1", version=1)
    make_registry(storage, str(tmp_path), "/m2", version=2)
    cfg = load_config("tiny", [f"storage.root={tmp_path}"])
    assert resolve_tool_models(cfg, storage, "latest")["version"] == 2
    one = resolve_tool_models(cfg, storage, "1")
    assert one["version"] == 1 and one["models"]["ga_slm"] == "/m1"
    assert resolve_tool_models(cfg, storage, "v0001")["version"] == 1
    with pytest.raises(ToolModelsNotFound):
        resolve_tool_models(cfg, storage, "7")


def test_plan_lists_everything_it_decided(ws):
    uris = [ws.shard(n, docs(n, 1)) for n in ("a", "b")]
    ctx = RunContext.create(ws.config("refresh.shard_limit=1"), DAG_ID, "r1")
    shards = discover(ctx)
    plan = ws.storage.read_json(ctx.uri("discover", "plan.json"))
    assert [s["uri"] for s in shards] == uris[:1]
    assert plan["counts"] == {"new": 2, "changed": 0, "stale": 0, "retry": 0, "unchanged": 0}
    assert plan["deferred"] == [{"uri": uris[1], "status": "new"}]
    assert plan["tool_models"]["version"] == 1 and len(shards[0]["fingerprint"]) == 16
