"""Held-out documents are disjoint from the sources and the labeling sample: by id and
by a 13-word n-gram, even when the reference corpus holds the same text under another id
or a source quotes a stretch of a candidate."""

from __future__ import annotations

import json

import pytest

from maga.config import load_config
from maga.mixeval.heldout import Excluded, buckets, disjointness, select
from maga.storage import Storage

pytestmark = [pytest.mark.timeout(60)]
WORDS = "alpha bravo charlie delta echo foxtrot golf hotel india juliet kilo lima mike"


def _doc(i: int, body: str = "") -> dict:
    filler = " ".join(f"w{i}x{k}" for k in range(60))
    return {"id": f"d{i:03d}", "text": f"{body} {filler}".strip(), "lang": "en"}


def _reference(tmp_path, docs: list[dict]) -> str:
    folder = tmp_path / "ref"
    folder.mkdir()
    (folder / "part-0.jsonl").write_text("".join(json.dumps(d) + "\n" for d in docs))
    return str(folder)


def test_candidates_sharing_an_id_or_a_13_gram_are_refused(tmp_path):
    docs = [_doc(i) for i in range(40)]
    docs[5] = _doc(5, WORDS)  # shares 13 words with a source under another id
    docs[6] = _doc(6, " ".join(WORDS.split()[:12]))  # only 12 words: allowed
    ref = _reference(tmp_path, docs)
    cfg = load_config("tiny", [f"mix_eval.reference_uri={ref}", "mix_eval.heldout_docs=30",
                               "mix_eval.min_doc_chars=10"])  # fmt: skip
    excluded = Excluded(13)
    excluded.add("sources", "d007", docs[7]["text"])  # same id and text as a candidate
    excluded.add("sources", "src-1", f"prefix words {WORDS} suffix words")
    excluded.add("labeling_sample", "d011", "another text entirely")  # same id only
    picked = select(cfg, Storage(), excluded, real_tokens=0, count_tokens=len)
    chosen = {d["id"] for d in picked["heldout"]}
    assert len(chosen) == 30
    assert not chosen & {"d005", "d007", "d011"}
    assert picked["refused"] == {"id": 2, "ngram": 1}
    proof = disjointness(excluded, picked["heldout"])
    assert proof["disjoint"] and proof["checked_docs"] == 30
    assert proof["excluded_docs"] == {"sources": 2, "labeling_sample": 1}


def test_the_proof_catches_an_overlap_it_is_shown():
    excluded = Excluded(13)
    excluded.add("sources", "s1", f"x {WORDS} y")
    proof = disjointness(excluded, [{"id": "s1", "text": "z"}, {"id": "h", "text": WORDS}])
    assert proof["shared_ids"] == ["s1"] and proof["docs_sharing_ngram"] == ["h"]
    assert not proof["disjoint"]


def test_too_few_disjoint_documents_fail_with_the_key(tmp_path):
    ref = _reference(tmp_path, [_doc(i) for i in range(3)])
    cfg = load_config("tiny", [f"mix_eval.reference_uri={ref}", "mix_eval.heldout_docs=5",
                               "mix_eval.min_doc_chars=10"])  # fmt: skip
    with pytest.raises(ValueError, match="mix_eval.heldout_docs"):
        select(cfg, Storage(), Excluded(13), 0, len)


def test_extra_real_documents_fill_the_curve_and_stay_disjoint(tmp_path):
    ref = _reference(tmp_path, [_doc(i) for i in range(40)])
    cfg = load_config("tiny", [f"mix_eval.reference_uri={ref}", "mix_eval.heldout_docs=4",
                               "mix_eval.min_doc_chars=10"])  # fmt: skip
    picked = select(cfg, Storage(), Excluded(13), real_tokens=1000, count_tokens=len)
    assert picked["extra_goal"] == 3000 and picked["extra_tokens"] >= 3000
    ids = [d["id"] for d in picked["heldout"] + picked["extra"]]
    assert len(ids) == len(set(ids))


def test_groups_are_language_and_length():
    assert buckets({"text": "x" * 500, "lang": "fr"}, [400, 800]) == ["all", "lang:fr",
                                                                      "chars:<800"]  # fmt: skip
    assert buckets({"text": "x" * 900, "lang": "en"}, [400, 800])[2] == "chars:>=800"
