"""The whole refresh on local storage with a fake engine (fast): incremental discovery,
resume after a crash, stopped shards, dry runs, and that every input record ends up
in the output or among the rejects with a reason."""

from __future__ import annotations

import json
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from maga.refresh.pipeline import DAG_ID, run_all
from maga.runs.context import RunContext
from tests.refresh.helpers import BOILER_HEAD, BOILER_TAIL, FakeSession, docs


def rows(path: Path) -> list[dict]:
    return pq.read_table(path).to_pylist()


def data_files(out: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted((out / "data").glob("*.parquet"))}


def accounted(out: Path) -> tuple[set[str], set[str], list[dict]]:
    """(source ids with output, source ids rejected as a whole document, reject rows)."""
    produced, rejected, rej_rows = set(), set(), []
    for p in (out / "data").glob("*.parquet"):
        produced |= {r["source_id"] for r in rows(p)}
    for p in (out / "rejects").glob("*.parquet"):
        for r in rows(p):
            rej_rows.append(r)
            if r["rewrite_id"] is None:
                rejected.add(r["source_id"])
    return produced, rejected, rej_rows


def test_first_run_processes_all_then_nothing(ws):
    a = ws.shard("a", docs("a", 4))
    b = ws.shard("sub/b", docs("b", 3), "parquet")
    bad = ["{broken json", {"id": "c-1", "text": ""}, {"id": "c-0", "text": "again"}]
    c = ws.shard("c", docs("c", 12) + bad, "jsonl.gz")
    ctx = ws.run("r1")
    report = ws.report(ctx)
    assert sorted(report["selected"]) == sorted([a, b, c])
    assert {s["outcome"] for s in report["shards"]} == {"ok"}
    manifest = ws.manifest()
    assert set(manifest["shards"]) == {a, b, c}
    assert all(e["status"] == "published" for e in manifest["shards"].values())

    produced, rejected, rej = accounted(ws.output)
    inputs = {d["id"] for d in docs("a", 4) + docs("b", 3) + docs("c", 12)}
    assert inputs <= produced | rejected
    reasons = {r["reason"] for r in rej if r["stage"] == "input"}
    assert reasons == {"malformed_json", "empty_text", "duplicate_id"}
    assert all(r["reason"] for r in rej)

    out = rows(ws.output / "data" / f"{manifest['shards'][a]['key']}.parquet")
    assert len(out) == 20 and len({r["id"] for r in out}) == 20
    assert {
        "source_id",
        "genre",
        "audience",
        "prompt_variant",
        "tool_model_version",
        "text",
    } <= set(out[0])
    assert {r["tool_model_version"] for r in out} == {1}
    published = [r for f in (ws.output / "data").glob("*.parquet") for r in rows(f)]
    assert sum(len(r["text"]) for r in published) == report["totals"]["output_chars"]
    assert not any(BOILER_HEAD in r["text"] or BOILER_TAIL in r["text"] for r in out)
    card = (ws.output / "README.md").read_text()
    assert card.startswith("---\n") and "path: data/*.parquet" in card
    assert "| rewrites kept | 95 |" in card  # 19 good docs x 5 pairs
    assert "| rows published | 95 |" in card and "Output mode: `documents` (" in card
    assert "- megadocs" not in card
    assert not list(ws.output.glob("_staging/*/*")), "staging is removed after publish"

    summary = json.loads(Path(ctx.uri("summary.json")).read_text())
    assert list(summary["stages"]) == [
        "discover",
        "gate_input",
        "reformulate",
        "clean",
        "validate",
        "publish",
        "export_mix",
        "audit",
    ]
    audit = summary["stages"]["audit"]
    assert (audit["docs_in"], audit["unaccounted"]) == (4 + 3 + 15, 0)
    assert audit["rejected_by_reason"] == {"malformed_json": 1, "empty_text": 1,
                                           "duplicate_id": 1}  # fmt: skip
    assert audit["published"] == 19 and report["audit"]["unaccounted"] == 0
    assert "0 unaccounted" in Path(ctx.uri("report.md")).read_text().replace("**", "")
    assert summary["stages"]["reformulate"]["completion_tokens"] > 0
    assert summary["gates"]["refresh_aggregate"]["passed"]

    before = data_files(ws.output)
    session = FakeSession()
    ctx2 = ws.run("r2", session=session)
    assert ws.report(ctx2)["selected"] == [] and session.calls == 0
    assert data_files(ws.output) == before


def test_added_and_changed_shards_only(ws):
    a = ws.shard("a", docs("a", 4))
    b = ws.shard("b", docs("b", 4))
    ws.run("r1")
    key_b = ws.manifest()["shards"][b]["key"]
    old_a = (ws.output / "data" / f"{ws.manifest()['shards'][a]['key']}.parquet").read_bytes()
    d = ws.shard("d", docs("d", 2))
    ws.shard("b", docs("b", 3, start=10))  # changed content, same URI
    ctx = ws.run("r2")
    report = ws.report(ctx)
    assert {s["uri"]: s["change"] for s in report["shards"]} == {b: "changed", d: "new"}
    assert report["unchanged"] == 1
    new_b = rows(ws.output / "data" / f"{key_b}.parquet")
    assert {r["source_id"] for r in new_b} == {f"b-{i}" for i in range(10, 13)}
    assert (
        ws.output / "data" / f"{ws.manifest()['shards'][a]['key']}.parquet"
    ).read_bytes() == old_a
    assert len(list((ws.output / "data").glob("*.parquet"))) == 3


def test_shard_limit_defers_the_rest(ws):
    uris = [ws.shard(n, docs(n, 2)) for n in ("a", "b", "c")]
    first = ws.report(ws.run("r1", "refresh.shard_limit=2"))
    assert first["selected"] == uris[:2]
    assert first["deferred"] == [{"uri": uris[2], "status": "new"}]
    second = ws.report(ws.run("r2", "refresh.shard_limit=2"))
    assert second["selected"] == uris[2:]


def test_dry_run_lists_and_writes_nothing(ws):
    a = ws.shard("a", docs("a", 2))
    session = FakeSession()
    ctx = ws.run("dry", "refresh.dry_run=true", session=session)
    report = ws.report(ctx)
    assert report["dry_run"] and report["selected"] == [a]
    assert session.calls == 0 and not ws.output.exists()
    assert "Would process" in Path(ctx.uri("report.md")).read_text()
    plan = json.loads(Path(ctx.uri("summary.json")).read_text())["plan"]  # the report tab's
    assert plan["dry_run"] and plan["documents"] == 2 and plan["output"] == str(ws.output)
    assert plan["shards"] == {"new": 1, "changed": 0, "unchanged": 0, "deferred": 0,
                              "selected": 1}  # fmt: skip


def test_crash_mid_shard_resumes_to_identical_bytes(ws, tmp_path):
    ws.shard("a", docs("a", 6))
    ws.run("ref", output=str(tmp_path / "ref"))  # uninterrupted reference
    with pytest.raises(RuntimeError, match="simulated crash"):
        ctx = RunContext.create(ws.config(), DAG_ID, "r1")
        from maga.refresh.pipeline import discover, run_shard_step

        shard = discover(ctx)[0]
        session = FakeSession(crash_after=2)  # GA chunks 0-1 done, dies in chunk 2
        run_shard_step(ctx, "gate_shard", shard, session)
        run_shard_step(ctx, "reformulate_shard", shard, session)
    staged = list(ws.output.glob("_staging/*/*/ga/chunk-*.json"))
    assert len(staged) == 2
    resumed = FakeSession()
    run_all(ctx, resumed)  # the retry: same run, same plan
    assert resumed.calls == 1 + 3 + 1  # GA chunk 2, three rewrite chunks, the judge
    assert data_files(ws.output) == data_files(tmp_path / "ref")
    ids = [r["id"] for r in rows(next((ws.output / "data").glob("*.parquet")))]
    assert len(ids) == len(set(ids)) == 30


def test_bad_shard_is_stopped_and_accounted(ws):
    good = ws.shard("good", docs("g", 3))
    bad = ws.shard("bad", docs("x", 2) + ["{oops", "{nope", '{"id": "x-9"}'])
    ctx = ws.run("r1", complete=False)
    report = ws.report(ctx)
    by_uri = {s["uri"]: s for s in report["shards"]}
    assert by_uri[good]["outcome"] == "ok"
    assert by_uri[bad]["outcome"] == "stopped" and by_uri[bad]["failed_step"] == "gate"
    assert "bad_record_share" in by_uri[bad]["reason"]
    entry = ws.manifest()["shards"][bad]
    assert entry["status"] == "rejected" and entry["output"] is None
    rej = rows(ws.output / "rejects" / f"{entry['key']}.parquet")
    assert sorted(r["reason"] for r in rej) == [
        "malformed_json",
        "malformed_json",
        "missing_field",
        "shard_stopped",
        "shard_stopped",
    ]
    assert not (ws.output / "data" / f"{entry['key']}.parquet").exists()
    gate = json.loads(
        Path(ctx.uri("gates", f"shard_input.{entry['key']}", "gate.json")).read_text()
    )
    assert gate["passed"] is False
    # unchanged and rejected: not retried; fixed: processed again
    assert ws.report(ws.run("r2"))["selected"] == []
    ws.shard("bad", docs("x", 2))
    assert ws.report(ws.run("r3"))["selected"] == [bad]


def test_output_gate_failure_rejects_the_shard_and_retries_only_when_asked(ws):
    a = ws.shard("a", docs("a", 2))
    ctx = ws.run("r1", "refresh.gates.min_expansion_ratio=50", complete=False)
    shard = ws.report(ctx)["shards"][0]
    assert shard["outcome"] == "stopped" and shard["failed_step"] == "validate"
    assert "expansion_ratio" in shard["reason"]
    entry = ws.manifest()["shards"][a]
    assert entry["status"] == "rejected" and entry["output"] is None
    assert entry["gate"] == f"shard_output.{entry['key']}" and entry["step"] == "validate"
    assert entry["stopped_by"] == "gate" and "expansion_ratio" in entry["reason"]
    rej = rows(ws.output / "rejects" / f"{entry['key']}.parquet")
    assert sorted((r["record"], r["source_id"], r["reason"]) for r in rej) == [
        (1, "a-0", "shard_stopped"),
        (2, "a-1", "shard_stopped"),
    ]
    assert all(r["detail"].startswith(f"shard_output.{entry['key']}: ") for r in rej)
    assert not (ws.output / "data" / f"{entry['key']}.parquet").exists()
    # thresholds are not data settings: relaxing them alone does not retry the shard
    session = FakeSession()
    assert ws.report(ws.run("r2", session=session))["selected"] == []
    assert session.calls == 0
    # asked to, the retry reuses the kept staged work and publishes
    report = ws.report(ws.run("r3", "refresh.retry_rejected=true", session=session))
    assert report["selected"] == [a] and report["shards"][0]["change"] == "retry"
    assert session.calls == 0 and ws.manifest()["shards"][a]["status"] == "published"


def test_changed_data_settings_retry_a_rejected_shard(ws):
    a = ws.shard("a", docs("a", 2))
    ws.run("r1", "refresh.gates.min_expansion_ratio=50", complete=False)
    ctx = ws.run("r2", "refresh.gates.min_expansion_ratio=50", "refresh.clean.min_chars=21",
                 complete=False)  # fmt: skip
    assert ws.report(ctx)["shards"][0]["change"] == "stale"
    assert ws.manifest()["shards"][a]["run_id"] == "r2"


def test_task_error_rejects_the_shard_and_the_next_run_retries(ws):
    a = ws.shard("a", docs("a", 3))
    ctx = ws.run("r1", session=FakeSession(crash_after=1), complete=False)
    summary = ws.report(ctx)["shards"][0]
    assert summary["outcome"] == "failed" and summary["failed_step"] == "reformulate"
    assert "simulated crash" in summary["reason"]
    entry = ws.manifest()["shards"][a]
    assert entry["status"] == "rejected" and entry["stopped_by"] == "error"
    assert entry["gate"] is None and entry["step"] == "reformulate"
    rej = rows(ws.output / "rejects" / f"{entry['key']}.parquet")
    assert [(r["record"], r["reason"]) for r in rej] == [(i, "shard_failed") for i in (1, 2, 3)]
    report = ws.report(ws.run("r2"))
    assert report["selected"] == [a] and report["shards"][0]["change"] == "retry"
    assert ws.manifest()["shards"][a]["status"] == "published"


def test_publish_crash_before_manifest_is_repaired_by_rerun(ws, monkeypatch):
    ws.shard("a", docs("a", 2))
    import maga.refresh.publish as publish

    real = publish.update_manifest

    def boom(*args, **kwargs):
        raise OSError("crash before the manifest")

    monkeypatch.setattr(publish, "update_manifest", boom)
    ctx = RunContext.create(ws.config(), DAG_ID, "r1")
    with pytest.raises(OSError):
        run_all(ctx, FakeSession())
    first = data_files(ws.output)
    assert first and not (ws.output / "manifest.json").exists()
    monkeypatch.setattr(publish, "update_manifest", real)
    run_all(ctx, FakeSession())  # the retried task
    assert data_files(ws.output) == first
    assert len(ws.manifest()["shards"]) == 1


def test_new_tool_models_mark_shards_stale_when_asked(ws):
    from tests.refresh.helpers import make_registry

    a = ws.shard("a", docs("a", 2))
    ws.run("r1")
    make_registry(ws.storage, str(ws.root), str(ws.root / "m2"), version=2)
    assert ws.report(ws.run("r2"))["selected"] == []
    report = ws.report(ws.run("r3", "refresh.redo_on_new_tool_models=true"))
    assert report["selected"] == [a] and report["shards"][0]["change"] == "stale"
    assert ws.manifest()["shards"][a]["tool_model_version"] == 2


def test_long_documents_are_split_and_counted(ws):
    text = "\n\n".join(d["text"] for d in docs("w", 40, words=60))
    long_doc = {"id": "long", "text": text}
    ws.shard("a", [long_doc])
    ctx = ws.run("r1", "refresh.long_doc_policy=split", "refresh.max_parts=2")
    shard = ws.report(ctx)["shards"][0]
    assert shard["split_docs"] == 1 and shard["parts_dropped"] >= 1
    out = rows(next((ws.output / "data").glob("*.parquet")))
    assert {r["part"] for r in out} == {0, 1}
    assert {r["source_id"] for r in out} == {"long"}


def test_editing_a_prompt_template_reprocesses_shards(ws, tmp_path, monkeypatch, request):
    import shutil

    from maga.prompts import render

    a = ws.shard("a", docs("a", 2))
    ws.run("r1")
    assert ws.report(ws.run("r2"))["selected"] == []  # nothing changed: nothing to do

    templates = tmp_path / "templates"
    shutil.copytree(render.TEMPLATE_DIR, templates)
    monkeypatch.setattr(render, "TEMPLATE_DIR", templates)
    request.addfinalizer(render.load_template.cache_clear)

    def edit(name: str, extra: str) -> None:
        path = templates / f"{name}.txt"
        path.write_text(path.read_text() + extra)
        render.load_template.cache_clear()

    # A template this run does not render (another prompt variant) changes nothing.
    edit("reformulate.strict.user", "\nKeep every number exactly as written.")
    assert ws.report(ws.run("r3"))["selected"] == []

    edit("reformulate.base.user", "\nKeep every number exactly as written.")
    session = FakeSession()
    report = ws.report(ws.run("r4", session=session))
    assert report["selected"] == [a] and report["shards"][0]["change"] == "stale"
    assert session.calls > 0
    digest = ws.manifest()["shards"][a]["settings_digest"]
    assert digest and ws.report(ws.run("r5"))["selected"] == []

    edit("genre_audience.user", "\nPrefer concrete audiences.")  # the GA-SLM's prompt
    assert ws.report(ws.run("r6"))["selected"] == [a]
    assert ws.manifest()["shards"][a]["settings_digest"] != digest


@pytest.mark.parametrize("rules", ["clean", "hygiene"])
def test_a_new_version_of_the_cleaning_rules_reprocesses_shards(ws, monkeypatch, rules):
    from maga.refresh import layout

    a = ws.shard("a", docs("a", 2))
    ws.run("r1")
    assert ws.report(ws.run("r2"))["selected"] == []
    monkeypatch.setitem(layout.RULES_VERSIONS, rules, layout.RULES_VERSIONS[rules] + 1)
    session = FakeSession()
    report = ws.report(ws.run("r3", session=session))
    assert report["selected"] == [a] and report["shards"][0]["change"] == "stale"
    assert session.calls > 0


def test_every_step_folder_is_in_the_declared_order(ws):
    from maga.steps import REFRESH_STAGE_ORDER as STAGE_ORDER

    ws.shard("a", docs("a", 2))
    ctx = ws.run("r1")
    folders = {p.parent.name for p in Path(ctx.run_uri).glob("*/stats.json")}
    assert folders == set(STAGE_ORDER)
    summary = ws.storage.read_json(ctx.uri("summary.json"))
    assert list(summary["stages"]) == list(STAGE_ORDER)


def test_expansion_is_measured_against_the_truncated_text(ws):
    """One 270 KB document cut to max_input_chars must not stop the shard: expansion is
    output over what was reformulated; the cut is counted and shown."""
    long_text = " ".join(d["text"] for d in docs("w", 40, words=60))
    long_text = (long_text + " ") * (270_000 // (len(long_text) + 1) + 1)
    a = ws.shard("a", [*docs("a", 2), {"id": "long", "text": long_text[:270_000]}])
    ctx = ws.run("r1", "refresh.gates.min_expansion_ratio=1.0", "refresh.long_doc_policy=truncate")
    shard = ws.report(ctx)["shards"][0]
    assert shard["outcome"] == "ok" and ws.manifest()["shards"][a]["status"] == "published"
    limit = ws.config().generation.max_input_chars
    assert shard["truncated_docs"] == 1
    assert shard["truncated_chars"] > 270_000 - limit - 10
    assert shard["reformulated_chars"] < shard["input_chars"] - shard["truncated_chars"] + 10
    assert shard["expansion_ratio"] >= 1.0 > shard["source_expansion_ratio"]
    md = Path(ctx.uri("report.md")).read_text()
    assert "1 truncated" in md and f"{shard['truncated_chars']} of" in md
    summary = json.loads(Path(ctx.uri("summary.json")).read_text())
    assert summary["stages"]["reformulate"]["long_docs"]["truncated_docs"] == 1
    gate = summary["gates"][f"shard_output.{shard['key']}"]
    checks = {c["name"]: c for c in gate["checks"]}
    assert checks["source_expansion_ratio"]["blocking"] is False


@pytest.mark.parametrize("mode", ["documents", "stretch"])
def test_each_request_goes_to_its_own_quantized_tool_model(ws, mode):
    """GA requests to the quantized GA-SLM, rewrites/rationales and the SLM judge to the
    quantized reformulation SLM: a swap, or unquantized weights, fails here."""
    ws.shard("a", docs("a", 3))
    session = FakeSession()
    ws.run("r1", f"refresh.output_mode={mode}", session=session)
    sent: dict[str, set] = {}
    for kind, _, path in session.asked:
        sent.setdefault(kind, set()).add(path)
    ga, rw = ws.models["ga_slm_quantized"], ws.models["reformulation_slm_quantized"]
    expected = {"judge": {rw}, **({"ga": {ga}, "rewrite": {rw}} if mode == "documents"
                                  else {"rationale": {rw}})}  # fmt: skip
    assert sent == expected
    assert len(set(ws.models.values())) == 4
