"""Run folders for the report tests: the real tiny-profile partial run (``fixtures/try1``,
random-model text) and small synthetic runs whose numbers are known in advance."""

from __future__ import annotations

import contextlib
import json
import shutil
from pathlib import Path
from typing import Any

import pytest

FIXTURES = Path(__file__).resolve().parent / "fixtures"
TOPICS = ["river", "castle", "engine", "violin", "glacier", "harbor", "orchard", "comet",
          "library", "desert", "reef", "tower"]  # fmt: skip
SOURCE_WORDS = 40


def copy_fixture(name: str, dest: Path, root: Path) -> None:
    """Copy ``fixtures/<name>`` to ``dest``; its recorded storage root becomes ``root``."""
    shutil.copytree(FIXTURES / name, dest, dirs_exist_ok=True)
    for path in dest.rglob("*"):
        if path.is_file() and path.suffix in (".json", ".jsonl", ".md"):
            path.write_text(path.read_text().replace("@RUN_ROOT@", str(root)))


def copy_try1(root: Path) -> Path:
    """The tiny-profile partial run (random model) as ``<root>/runs/maga_tool_models/try1``."""
    run = root / "runs" / "maga_tool_models" / "try1"
    copy_fixture("try1", run, root)
    return run


def copy_refresh1(root: Path) -> Path:
    """A real corpus-refresh run (tiny profile, random model): its source shards in
    ``src/``, published output in ``out/`` and run folder ``runs/maga_corpus_refresh/r1``."""
    copy_fixture("refresh1", root, root)
    return root / "runs" / "maga_corpus_refresh" / "r1"


def source_text(i: int) -> str:
    """Exactly SOURCE_WORDS words; the topic word is the most frequent one."""
    t = TOPICS[i]
    words = (f"the {t} of valley {i} holds a famous {t} that visitors reach by train the {t} "
             f"was built in year {1800 + i} and the museum near the {t} shows maps tools and "
             f"letters from old families who lived beside the quiet {t} for many generations "
             "today").split()  # fmt: skip
    return " ".join(words[:SOURCE_WORDS])


def rewrite_text(i: int, n_words: int, boilerplate: bool = False) -> str:
    head = ["Please", "note", "that"] if boilerplate else []
    body = [TOPICS[i], "valley", str(i), "museum", "train", str(1800 + i)]
    words = head + (body * 20)[: n_words - len(head)]
    return " ".join(words)


def _jsonl(path: Path, rows: list[dict[str, Any]]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))


def _stats(run: Path, stage: str, **stats: Any) -> None:
    (run / stage).mkdir(parents=True, exist_ok=True)
    base = {"docs_in": 0, "docs_out": 0, "dropped": {}, "prompt_tokens": 0,
            "completion_tokens": 0, "artifacts": {}, "seconds": 1.0}  # fmt: skip
    (run / stage / "stats.json").write_text(json.dumps({**base, **stats}))
    (run / stage / "_SUCCESS").write_text("")


# Judge scores of the synthetic teacher rewrites: (source index, words, score, variant,
# boilerplate). Scored 12: >= 4: 8, = 5: 2, <= 2: 2. Words: source 0 five rewrites of 20,
# source 1 five of 60, source 2 two of 40 -> 480 output words over 120 source words = 4.0x.
JUDGED = [(0, 20, 5, "base", True), (0, 20, 4, "base", False), (0, 20, 4, "base", False),
          (0, 20, 3, "base", False), (0, 20, 2, "base", False),
          (1, 60, 4, "strict", False), (1, 60, 4, "strict", True), (1, 60, 5, "strict", False),
          (1, 60, 1, "strict", False), (1, 60, 3, "strict", False),
          (2, 40, 4, "base", False), (2, 40, 4, "base", False)]  # fmt: skip


def make_tool_models_run(root: Path) -> Path:
    """A tool-models run with known numbers and real gate results (sample, ga_labels and
    sft pass; parity fails), written by the project's own gate runner."""
    from maga.config import load_config
    from maga.gates.core import GateFailed
    from maga.gates.runner import run_tool_models_gate
    from maga.runs.context import RunContext
    from maga.runs.summary import refresh_summary

    # The paper-derived collapse thresholds, blocking (the tiny profile makes them advisory).
    defaults = [
        "report.advisory={}",
        "report.collapse_max_low_share=0.3",
        "report.collapse_max_embedding_shift=0.6",
        "report.collapse_min_coverage=0.5",
    ]
    ctx = RunContext.create(
        load_config("tiny", [f"storage.root={root}", *defaults]), "maga_tool_models", "synth1"
    )
    run = Path(ctx.run_uri)
    docs = [{"id": f"s{i}", "text": source_text(i), "lang": "en", "n_chars": 0,
             "length_bucket": "0-399", "split": "heldout" if i >= 10 else "train"}
            for i in range(12)]  # fmt: skip
    for d in docs:
        d["n_chars"] = len(d["text"])
    _jsonl(run / "sample" / "sample.jsonl", docs)
    _jsonl(run / "sample" / "rejects.jsonl", [
        {"id": "short-1", "source": "builtin://wiki-summaries#short-1", "reason": "too_short"},
        {"id": "short-2", "source": "builtin://wiki-summaries#short-2", "reason": "too_short"},
    ])  # fmt: skip
    _stats(run, "sample", docs_in=20, docs_out=12, dropped={"too_short": 2, "not_sampled": 6},
           seconds=0.5)  # fmt: skip
    pairs = [{"genre": f"genre {k}", "audience": f"audience {k}"} for k in range(5)]
    labels = [{"id": d["id"], "split": d["split"], "valid": True, "reject_reason": None,
               "pairs": pairs, "raw": "{}"} for d in docs[:11]]  # fmt: skip
    labels.append({"id": "s11", "split": "heldout", "valid": False, "reject_reason": "invalid_json",
                   "pairs": [], "raw": "{not json at all"})  # fmt: skip
    _jsonl(run / "teacher_ga" / "labels.jsonl", labels)
    model = {"requests": 12, "failed_requests": 0, "prompt_tokens": 1200,
             "completion_tokens": 600, "generate_seconds": 2.0,
             "completion_tokens_per_s": 300.0, "engine_startup_seconds": 10.0}  # fmt: skip
    _stats(
        run,
        "teacher_ga",
        docs_in=12,
        docs_out=11,
        dropped={"invalid_json": 1},
        prompt_tokens=1200,
        completion_tokens=600,
        models={"teacher": model},
        seconds=12.0,
    )
    judged = []
    for n, (i, words, score, variant, boiler) in enumerate(JUDGED):
        judged.append({"id": f"s{i}#{n}", "source_id": f"s{i}", "pair_index": n % 5,
                       "genre": f"genre {n}", "audience": f"audience {n}", "split": "train",
                       "prompt_variant": variant, "text": rewrite_text(i, words, boiler),
                       "finish_reason": "stop", "score": score, "judge_reason": "",
                       "judge_reject": None, "kept": score >= 3})  # fmt: skip
    _jsonl(
        run / "teacher_reformulate" / "rewrites.jsonl",
        [{k: v for k, v in r.items() if k not in ("score", "kept")} for r in judged],
    )
    _stats(run, "teacher_reformulate", docs_in=12, docs_out=12, prompt_tokens=2000,
           completion_tokens=1000, seconds=20.0,
           models={"teacher": {**model, "completion_tokens": 1000,
                               "completion_tokens_per_s": 500.0}})  # fmt: skip
    _jsonl(run / "teacher_judge" / "judged.jsonl", judged)
    _stats(run, "teacher_judge", docs_in=12, docs_out=10, dropped={"score_below_3": 2},
           prompt_tokens=3000, completion_tokens=100, seconds=15.0)  # fmt: skip
    table1 = {"heldout_docs": 2, "judged_items": 4,
              "teacher": {"score_counts": {}, "share_ge3": 0.9},
              "slm": {"score_counts": {}, "share_ge3": 0.2}, "gap_share_ge3": 0.7,
              "ga_slm_json_valid": 1.0, "tokens_per_s": {}}  # fmt: skip
    (run / "eval_slm").mkdir()
    (run / "eval_slm" / "table1.json").write_text(json.dumps(table1))
    _jsonl(run / "eval_slm" / "slm_rewrites.jsonl",
           [{"id": f"s10#{k}", "source_id": "s10", "genre": "g", "audience": "a",
             "text": rewrite_text(10, 10), "score": s, "kept": s >= 3}
            for k, s in enumerate([1, 2, 2, 4])])  # fmt: skip
    _stats(run, "eval_slm", docs_in=2, docs_out=4, seconds=30.0)
    refresh_summary(ctx)
    for gate in ("sample", "ga_labels", "sft", "parity"):
        with contextlib.suppress(GateFailed):
            run_tool_models_gate(ctx, gate)
    return run


def make_corpus_refresh_run(root: Path) -> Path:
    """A corpus-refresh-shaped run: Parquet output, sources only in the corpus, a clean
    stage with rejects, no judge and no gates."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    from maga.config import load_config

    corpus = root / "corpus"
    _jsonl(corpus / "part-0.jsonl", [{"id": f"c{i}", "text": source_text(i)} for i in range(6)])
    cfg = load_config("tiny", [f"storage.root={root}", f"corpus.uri={corpus}"])
    run = root / "runs" / "maga_corpus_refresh" / "scheduled__1"
    run.mkdir(parents=True)
    (run / "config.json").write_text(cfg.to_json())
    rows = [{"source_id": f"c{i}", "genre": f"genre {k}", "audience": f"audience {k}",
             "prompt_variant": "base", "tool_model_version": "v1",
             "text": rewrite_text(i, 20 + 10 * k)} for i in range(4) for k in range(5)]  # fmt: skip
    (run / "reformulate").mkdir()
    pq.write_table(pa.Table.from_pylist(rows), run / "reformulate" / "shard-00000.parquet")
    _jsonl(run / "clean" / "rejects.jsonl", [
        {"id": "c5#0", "reason": "low_keyword_coverage", "text": "nothing from the source"},
        {"id": "c5#1", "reason": "boilerplate", "text": "As an AI, I cannot rewrite this."},
    ])  # fmt: skip
    summary = {"schema_version": 1, "dag_id": "maga_corpus_refresh", "run_id": "scheduled__1",
               "run_uri": str(run), "profile": "tiny", "demo_models": True,
               "note": "demo models", "updated_at": "2026-11-23T08:00:00+00:00",
               "stages": {"discover": {"docs_in": 6, "docs_out": 6, "dropped": {},
                                       "prompt_tokens": 0, "completion_tokens": 0,
                                       "seconds": 0.2},
                          "reformulate": {"docs_in": 6, "docs_out": 22, "dropped": {},
                                          "prompt_tokens": 5000, "completion_tokens": 4000,
                                          "seconds": 40.0},
                          "clean": {"docs_in": 22, "docs_out": 20,
                                    "dropped": {"low_keyword_coverage": 1, "boilerplate": 1},
                                    "prompt_tokens": 0, "completion_tokens": 0,
                                    "seconds": 1.0}},
               "gates": {}, "artifacts": {}}  # fmt: skip
    (run / "summary.json").write_text(json.dumps(summary))
    return run


@pytest.fixture(scope="session")
def tool_models_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_tool_models_run(tmp_path_factory.mktemp("synth"))


@pytest.fixture(scope="session")
def corpus_refresh_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_corpus_refresh_run(tmp_path_factory.mktemp("refresh"))


@pytest.fixture
def try1_run(tmp_path: Path) -> Path:
    return copy_try1(tmp_path)


@pytest.fixture
def refresh1_run(tmp_path: Path) -> Path:
    return copy_refresh1(tmp_path)
