"""Whole reports built from run folders: known numbers land in the right sections,
absent inputs say "not available", the page fetches nothing, Data Docs are linked."""

from __future__ import annotations

import html
import json
import re
from pathlib import Path

import pytest

from maga.report import build_report
from maga.report.build import build_context
from maga.report.data import load_run


def section(page: str, sid: str) -> str:
    found = re.search(rf'<section id="{sid}">(.*?)</section>', page, re.S)
    assert found, f"no section {sid}"
    return html.unescape(re.sub(r"<[^>]+>", " ", found.group(1)))


def words(text: str) -> str:
    return " ".join(text.split())


def assert_offline(page: str) -> None:
    """Nothing in the page makes the browser fetch: no src/href to a network URL, no
    link/script/img/iframe elements, and a CSP that forbids any fetch."""
    assert not re.search(r"""(src|href)\s*=\s*["']?(https?:)?//""", page)
    assert not re.search(r"<(script|link|img|iframe|object|embed)\b", page)
    assert "default-src 'none'" in page


@pytest.fixture(scope="module")
def synth_page(tool_models_run: Path) -> str:
    uri = build_report(str(tool_models_run))
    assert uri == str(tool_models_run / "report.html")
    return Path(uri).read_text()


def test_gates_show_every_check_failures_first(synth_page: str) -> None:
    gates = words(section(synth_page, "gates"))
    assert gates.index("Gate parity FAILED") < gates.index("Gate sample passed")
    assert "share_ge3_gap 0.7 <= 0.6 FAIL" in gates
    parity = re.search(r'data-gate="parity">(.*?)</table>', synth_page, re.S).group(1)
    statuses = re.findall(r'class="badge (FAIL|warn|pass)"', parity)
    assert statuses == sorted(statuses, key=["FAIL", "warn", "pass"].index)
    assert 'id="overall-status">1 of 4 gates failed: parity' in synth_page


def test_funnel_counts_drops_and_real_examples(synth_page: str) -> None:
    funnel = words(section(synth_page, "funnel"))
    assert "sample labeling data (sample) 20 12 not_sampled: 6, too_short: 2" in funnel
    assert "teacher_ga: invalid_json (1 dropped)" in funnel and "{not json at all" in funnel
    assert "teacher_judge: score_below_3 (2 dropped)" in funnel
    assert "short-1" in funnel  # a real rejected record is shown
    assert funnel.count("demo-model output") >= 2  # the model text among the examples


def test_limited_consistency_per_variant_and_table1(synth_page: str) -> None:
    text = words(section(synth_page, "consistency"))
    # base: scores 5,4,4,3,2,4,4 -> >=4 5/7, =5 1/7, <=2 1/7; strict: 4,4,5,1,3
    assert "teacher · base 7 0 71.4% 14.3% 14.3% 85.7%" in text
    assert "teacher · strict 5 0 60.0% 20.0% 20.0% 80.0%" in text
    assert "tool SLM · base 4 0 25.0% 0.0% 75.0% 25.0%" in text
    assert "paper Table 3: SLM-Relaxed 13.63% 2.66% 60.19%" in text
    assert "share judged >= 3, teacher 90.00%" in text and "tool SLM 20.00%" in text
    assert text.count("<svg") == 0 and synth_page.count('class="chart"') >= 8


def test_expansion_matches_the_known_word_counts(synth_page: str) -> None:
    text = words(section(synth_page, "expansion"))
    assert "output words / source words 4x" in text
    assert "synthetic documents / their sources 12 / 3" in text
    assert "9 sampled sources have no rewrite" in text
    assert "rewrites per source (mean, min, max) 4, 2, 5" in text


def test_diversity_and_collapse_sections(synth_page: str) -> None:
    text = words(section(synth_page, "diversity"))
    assert "boilerplate rate 16.7%" in text and "please_note 2" in text
    assert "coverage (sources with a synthetic document in their 5-NN ball)" in text
    assert "projection t-SNE" in text
    collapse = words(section(synth_page, "collapse"))
    assert "evaluated here for the report" in collapse
    assert "low_score_share 0.1667 <= 0.3 pass" in collapse
    assert "embedding_shift" in collapse and "embedding_coverage" in collapse


def test_cost_side_by_side_demo_label_and_offline(synth_page: str) -> None:
    cost = words(section(synth_page, "cost"))
    assert "teacher_reformulate teacher 12 1,200 1,000 2 500 10" in cost
    samples = words(section(synth_page, "samples"))
    assert "Source s0" in samples and "5 rewrites demo-model output" in samples
    assert "genre genre 0 audience audience 0 score 5" in samples
    assert 'id="demo-banner"' in synth_page
    assert_offline(synth_page)


def test_data_docs_are_built_offline_and_linked(synth_page: str, tool_models_run: Path) -> None:
    assert 'href="data_docs/index.html"' in synth_page
    index = (tool_models_run / "data_docs" / "index.html").read_text()
    for suite in ("sample", "sample_metrics", "ga_labels", "sft_metrics", "parity_metrics",
                  "collapse_metrics"):  # fmt: skip
        assert f"<td>{suite}</td>" in index
    assert index.count(">replayed<") == 8 and "report preview" in index  # 4 gates, 8 suites
    pages = list((tool_models_run / "data_docs").rglob("*.html"))
    assert len(pages) > 8
    for page in pages:
        text = page.read_text()
        assert not re.search(r"""<(script|link|img)[^>]*(src|href)="https?://""", text), page
    parity = next(
        (tool_models_run / "data_docs" / "validations" / "parity_metrics").rglob("*.html")
    )
    assert "Failed" in parity.read_text() and "synth1" in parity.read_text()


def test_corpus_refresh_run_degrades_gracefully(corpus_refresh_run: Path) -> None:
    page = Path(build_report(str(corpus_refresh_run), data_docs=False,
                             with_embeddings=False)).read_text()  # fmt: skip
    assert "Not available for this run: no gate has run yet" in words(section(page, "gates"))
    consistency = words(section(page, "consistency"))
    assert "Not available for this run: no judged rewrites" in consistency
    expansion = words(section(page, "expansion"))  # sources read back from the corpus
    assert "synthetic documents / their sources 20 / 4" in expansion
    assert "output words / source words 5x" in expansion  # (20+30+40+50+60) / 40
    funnel = words(section(page, "funnel"))
    assert (
        "clean: low_keyword_coverage (1 dropped)" in funnel and "nothing from the source" in funnel
    )
    diversity = words(section(page, "diversity"))
    assert "Embedding overlap not available for this run" in diversity
    assert "Not available for this run: no judge scores and no embeddings" in words(
        section(page, "collapse")
    )
    assert_offline(page)


def test_empty_run_says_not_available_everywhere(tmp_path: Path) -> None:
    run = tmp_path / "runs" / "maga_tool_models" / "fresh"
    run.mkdir(parents=True)
    (run / "summary.json").write_text(
        json.dumps(
            {
                "dag_id": "maga_tool_models",
                "run_id": "fresh",
                "stages": {},
                "gates": {},
                "demo_models": False,
            }
        )
    )
    page = Path(build_report(str(run), data_docs=False, with_embeddings=False)).read_text()
    for sid in ("gates", "funnel", "expansion", "diversity", "collapse", "cost", "samples"):
        assert "Not available for this run" in section(page, sid), sid
    assert "demo-model output" not in page
    assert "config.json not found" in page


def test_context_of_the_real_try1_run(try1_run: Path) -> None:
    ctx, preview = build_context(load_run(str(try1_run)), with_embeddings=False)
    assert [g["name"] for g in ctx["gates"]["gates"]][0] == "ga_labels"  # the failed one first
    assert ctx["overall"]["status"] == "failed" and ctx["overall"]["failed"] == ["ga_labels"]
    assert ctx["funnel"]["rows"][1]["dropped"] == {"invalid_json": 13}
    assert ctx["consistency"]["variants"][0]["shares"]["ge4"] == 1.0
    assert ctx["expansion"]["synthetic_docs"] == 15 and ctx["demo"] is True
    assert preview is not None and preview.gate == "collapse"


def test_real_corpus_refresh_run(refresh1_run: Path) -> None:
    """A run of the corpus-refresh DAG: output outside the run folder, many shard gates,
    a judged sample recorded as histograms, sources in the source shards."""
    page = Path(build_report(str(refresh1_run), with_embeddings=False)).read_text()
    gates = words(section(page, "gates"))
    for gate in ("refresh_aggregate", "shard_input.a-05a4efd2", "shard_output.sub__b-7f72a85e"):
        assert f"Gate {gate} passed" in gates
    consistency = words(section(page, "consistency"))
    assert "judged sample · base 8 0 100.0% 0.0% 0.0% 100.0%" in consistency
    expansion = words(section(page, "expansion"))
    assert "synthetic documents / their sources 40 / 8" in expansion
    samples = words(section(page, "samples"))
    assert "5 rewrites demo-model output" in samples
    index = (refresh1_run / "data_docs" / "index.html").read_text()
    assert index.count(">from gate.json<") >= 5  # not replayable: rebuilt from the records
    assert_offline(page)


def test_many_gates_fold_the_passed_ones(tmp_path: Path) -> None:
    run = tmp_path / "runs" / "maga_corpus_refresh" / "many"
    gates = {f"shard_output.s{i:02d}": {"passed": i != 7, "reason": "" if i != 7 else "bad",
                                        "checks": [{"name": "kept_share", "passed": i != 7,
                                                    "observed": 0.5, "threshold": 0.3,
                                                    "blocking": True}]}
             for i in range(10)}  # fmt: skip
    run.mkdir(parents=True)
    (run / "summary.json").write_text(json.dumps({"dag_id": "maga_corpus_refresh",
                                                  "run_id": "many", "stages": {},
                                                  "gates": gates}))  # fmt: skip
    page = Path(build_report(str(run), data_docs=False, with_embeddings=False)).read_text()
    text = section(page, "gates")
    assert "9 passed gates" in text
    assert text.index("shard_output.s07") < text.index("9 passed gates")
    assert 'id="overall-status">1 of 10 gates failed: shard_output.s07' in page


@pytest.mark.timeout(120)
def test_a_failed_task_and_a_dry_run_plan_come_first(tool_models_run: Path, tmp_path: Path) -> None:
    import shutil

    run = tmp_path / "run"
    shutil.copytree(tool_models_run, run)
    summary = json.loads((run / "summary.json").read_text())
    summary["gates"] = {k: v for k, v in summary["gates"].items() if v["passed"]}
    for name in set(json.loads((tool_models_run / "summary.json").read_text())["gates"]):
        if name not in summary["gates"]:
            shutil.rmtree(run / "gates" / name)
    summary["failures"] = [{"task_id": "teacher_judge", "map_index": None, "final": True,
                            "reason": "CorpusError: corpus folder not found: /x",
                            "try_number": 1, "at": "2026-11-25T10:00:00+00:00"}]  # fmt: skip
    summary["plan"] = {"dry_run": True, "documents": 42, "source": "/src", "output": "/out",
                       "shards": {"new": 3, "changed": 1, "unchanged": 5, "deferred": 2,
                                  "selected": 2}}  # fmt: skip
    (run / "summary.json").write_text(json.dumps(summary))
    page = Path(build_report(str(run), data_docs=False, with_embeddings=False)).read_text()
    assert page.index('id="failures"') < page.index('id="plan"') < page.index('id="gates"')
    failures = words(section(page, "failures"))
    assert "teacher_judge CorpusError: corpus folder not found: /x 1 no" in failures
    assert 'id="overall-status">task teacher_judge failed' in page
    plan = words(section(page, "plan"))
    assert "Dry run: what this run would do" in plan
    assert (
        "new / changed / unchanged 3 / 1 / 5" in plan
        and "now / deferred to the next run 2 / 2" in plan
    )
    assert "documents in those shards 42" in plan and "output /out" in plan
    summary.update(failures=[], gates={})
    shutil.rmtree(run / "gates")
    (run / "summary.json").write_text(json.dumps(summary))
    page = Path(build_report(str(run), data_docs=False, with_embeddings=False)).read_text()
    assert 'id="overall-status">dry run: nothing processed' in page
