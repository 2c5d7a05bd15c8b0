"""Passages, stitching and stretching on hand-made text: the invariants the published
rows rely on (spans locate every part; removing inserts restores the source)."""

from __future__ import annotations

import pytest

from maga.config import MegadocConfig
from maga.megadocs.passages import group_spans, insert_points, passage_spans
from maga.megadocs.stitch import order_seed, stitch, stitch_order
from maga.megadocs.stretch import remove_spans, stretch

TEXT = 'First para. Still first!\n\n  Second para? Yes.\nThird line "quoted." End'


def test_paragraph_and_sentence_spans_cover_the_text():
    paras = passage_spans(TEXT, "paragraph")
    assert [TEXT[s:e] for s, e in paras] == ["First para. Still first!", "Second para? Yes.",
                                             "Third line \"quoted.\" End"]  # fmt: skip
    sentences = [TEXT[s:e] for s, e in passage_spans(TEXT, "sentence")]
    assert sentences == ["First para.", "Still first!", "Second para?", "Yes.",
                         "Third line \"quoted.\"", "End"]  # fmt: skip
    assert passage_spans("   \n\n ", "paragraph") == []


def test_grouping_spreads_inserts_over_the_whole_document():
    spans = [(i * 10, i * 10 + 5) for i in range(7)]
    groups = group_spans(spans, 3)
    assert len(groups) == 3 and groups[0][0] == 0 and groups[-1][1] == 65
    assert all(a[1] < b[0] for a, b in zip(groups, groups[1:], strict=False))
    assert insert_points(TEXT, "sentence", 2)[-1][1] == len(TEXT)


def rewrites(n: int) -> list[dict]:
    return [{"id": f"doc#{k}", "text": f"rewrite number {k}"} for k in range(n)]


@pytest.mark.parametrize("original", ["first", "omit"])
def test_stitch_places_every_rewrite_once_at_its_span(original):
    cfg = MegadocConfig(original=original, separator="\n---\n", seed=7)
    made = stitch("doc", "THE SOURCE", rewrites(6), cfg)
    assert sorted(made["members"]) == [f"doc#{k}" for k in range(6)]
    by_id = {r["id"]: r["text"] for r in rewrites(6)}
    for rid, (s, e) in zip(made["members"], made["member_spans"], strict=True):
        assert made["text"][s:e] == by_id[rid]
    assert made["text"].startswith("THE SOURCE\n---\n") == (original == "first")
    assert made["text"].count("\n---\n") == (6 if original == "first" else 5)


def test_stitch_order_comes_from_the_seed_alone():
    cfg = MegadocConfig(seed=7)
    a = stitch("doc", "S", rewrites(8), cfg)["members"]
    b = stitch("doc", "S", list(reversed(rewrites(8))), cfg)["members"]
    assert a == b == stitch_order([f"doc#{k}" for k in range(8)], 7, "doc")
    assert a != stitch("doc", "S", rewrites(8), MegadocConfig(seed=8))["members"]
    assert order_seed(7, "doc") != order_seed(7, "other") and order_seed(7, "doc") < 2**63


def test_stretch_keeps_the_source_intact_apart_from_the_inserts():
    points = insert_points(TEXT, "paragraph", 8)
    inserts = [
        {"id": f"x@{k}", "anchor": end, "text": f"WHY {k}"}
        for k, (_, end) in enumerate(points)
        if k != 1
    ]  # one dropped by cleaning
    made = stretch(TEXT, inserts, "\n\n")
    assert remove_spans(made["text"], made["member_spans"]) == TEXT
    assert [made["text"][s:e] for s, e in made["member_spans"]] == ["\n\nWHY 0", "\n\nWHY 2"]
    assert made["members"] == ["x@0", "x@2"]
    with pytest.raises(ValueError, match="outside the source"):
        stretch(TEXT, [{"id": "bad", "anchor": len(TEXT) + 1, "text": "t"}], " ")
