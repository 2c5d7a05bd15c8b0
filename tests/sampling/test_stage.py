import json

from maga.config import load_config
from maga.jsonl import read_jsonl
from maga.runs.context import RunContext
from maga.runs.stage import run_stage
from maga.sampling.stage import SampleStage


def make_corpus(folder):
    folder.mkdir()
    rows = []
    for i in range(60):
        rows.append(
            {
                "id": f"d{i}",
                "text": ("word " * (50 + 40 * (i % 3))).strip() + f" {i}",
                "lang": "en" if i % 4 else "fr",
            }
        )
    rows.append({"id": "short", "text": "tiny"})
    rows.append({"id": "long", "text": "x " * 5000})
    rows.append({"id": "dup", "text": rows[0]["text"]})
    rows.append({"id": "d1", "text": "repeated id " * 30})
    (folder / "part-0.jsonl").write_text("\n".join(json.dumps(r) for r in rows) + "\n{bad\n")
    return folder


def run(tmp_path, name, seed=1):
    cfg = load_config(
        "tiny",
        [
            f"storage.root={tmp_path / 'store'}",
            f"corpus.uri={tmp_path / 'corpus'}",
            f"sampling.seed={seed}",
            "sampling.size=12",
            "sampling.heldout_docs=3",
        ],
    )
    ctx = RunContext.create(cfg, "dag", name)
    stats = run_stage(ctx, SampleStage())
    return stats, read_jsonl(ctx.storage, ctx.uri("sample", "sample.jsonl"))


def test_sample_counts_every_drop_and_is_seeded(tmp_path):
    make_corpus(tmp_path / "corpus")
    stats, docs = run(tmp_path, "a")
    assert len(docs) == 12 and stats["docs_out"] == 12
    assert stats["dropped"]["too_short"] == 1
    assert stats["dropped"]["too_long"] == 1
    assert stats["dropped"]["duplicate_text"] == 1
    assert stats["dropped"]["duplicate_id"] == 1
    assert stats["dropped"]["malformed_json"] == 1
    assert stats["docs_in"] == 65
    assert sum(d["split"] == "heldout" for d in docs) == 3
    assert {d["lang"] for d in docs} == {"en", "fr"}
    _, again = run(tmp_path, "b")
    _, other = run(tmp_path, "c", seed=2)
    assert [d["id"] for d in again] == [d["id"] for d in docs]
    assert [d["id"] for d in other] != [d["id"] for d in docs]
