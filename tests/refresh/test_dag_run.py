"""The real ``maga_corpus_refresh`` DAG under ``airflow dags test`` (SQLite, local
storage, tiny profile, real vLLM): the shard task group is mapped once per shard; a shard
whose input gate fails stops only its own mapped tasks; publish still publishes the good
shard and emits the corpus Asset event; finish fails the run with the stopped shard's
reason. One engine start (the good shard's reformulation; judging is off here)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from maga.models.builtin import resolve_model
from maga.storage import Storage
from tests.e2e.airflow_env import airflow_env, dags_test, migrate, query_db
from tests.refresh.helpers import docs, make_registry, shard_bytes

pytestmark = [pytest.mark.slow, pytest.mark.timeout(1800)]

QUERY = """
import json, sys
from airflow.utils.session import create_session
from airflow.models import DagRun, TaskInstance
from airflow.models.asset import AssetEvent
with create_session() as s:
    run = s.query(DagRun).filter(DagRun.dag_id == sys.argv[1]).order_by(DagRun.id).all()[-1]
    tis = s.query(TaskInstance).filter(TaskInstance.dag_id == sys.argv[1],
                                       TaskInstance.run_id == run.run_id).all()
    print(json.dumps({"state": str(run.state),
                      "tasks": sorted([t.task_id, t.map_index, str(t.state), t.try_number]
                                      for t in tis),
                      "events": [e.extra for e in s.query(AssetEvent).all()]}))
"""


def test_mapped_shards_under_airflow(tmp_path):
    home, store = tmp_path / "airflow", tmp_path / "store"
    storage = Storage()
    make_registry(storage, str(store), resolve_model("builtin:tiny-random"))
    src = store / "source"
    storage.write_bytes(str(src / "a-good.jsonl"), shard_bytes(docs("g", 2), "jsonl"))
    storage.write_bytes(
        str(src / "b-bad.jsonl"), shard_bytes(docs("b", 1) + ["{cut", "{off"], "jsonl")
    )
    env = airflow_env(home, store)
    env["MAGA_PROFILE"] = "tiny"
    migrate(env)
    conf = {
        "profile": "tiny",
        "source": str(src),
        "overrides": ["refresh.chunk_docs=2", "refresh.judge_sample=0"],
    }
    log = tmp_path / "dag.log"
    dags_test(env, "maga_corpus_refresh", conf, log)
    run = query_db(env, QUERY, "maga_corpus_refresh")
    tail = "\n".join(log.read_text(errors="replace").splitlines()[-80:])
    states = {(t, i): s for t, i, s, _ in run["tasks"]}
    tries = {(t, i): n for t, i, _, n in run["tasks"]}
    assert states[("prepare_run", -1)] == "success", tail
    assert states[("discover", -1)] == "success", tail
    for step in ("gate_shard", "reformulate_shard", "clean_shard", "validate_shard"):
        assert states[(f"shard.{step}", 0)] == "success", (step, tail)
    assert states[("shard.gate_shard", 1)] == "failed"
    # a gate's verdict is final: no retry (the DAG's default is retries=1)
    assert tries[("shard.gate_shard", 1)] == 1 and tries[("finish", -1)] == 1
    for step in ("reformulate_shard", "clean_shard", "validate_shard"):
        assert states[(f"shard.{step}", 1)] == "upstream_failed"
    assert states[("publish", -1)] == "success", tail
    assert states[("finish", -1)] == "failed" and run["state"] == "failed"
    text = log.read_text(errors="replace")
    assert "gate failed: shard_input.b-bad" in text and "bad_record_share" in text
    assert "1 shard(s) not published" in text
    corpus = [e for e in run["events"] if e and "shards_published" in e]
    assert corpus and corpus[-1]["shards_published"] == 1 and corpus[-1]["rows"] > 0
    manifest = json.loads((store / "corpus" / "maga" / "manifest.json").read_text())
    assert {Path(u).name: e["status"] for u, e in manifest["shards"].items()} == {
        "a-good.jsonl": "published",
        "b-bad.jsonl": "rejected",
    }
    # finish audited the run: 2 + 3 source records, none unaccounted
    (audit_file,) = store.glob("runs/maga_corpus_refresh/*/audit/audit.json")
    audit = json.loads(audit_file.read_text())
    assert (audit["records"], audit["unaccounted"]) == (5, 0)
    assert audit["rejected_by_reason"] == {"malformed_json": 2, "shard_stopped": 1}
