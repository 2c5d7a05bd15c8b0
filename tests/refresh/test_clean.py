"""Cleaning on purpose-made text: boilerplate learned from the outputs, keyword coverage,
length bounds, exact and near duplicates, and template-only overlap NOT merged."""

from __future__ import annotations

from maga.config import RefreshCleanConfig
from maga.refresh.clean import clean_group, learn, strip_boilerplate
from maga.refresh.textstats import CountMinSketch, jaccard, shingles
from maga.text import edge_key, keyword_coverage, keywords

SOURCE = (
    "The Danube river flows through ten countries in central and eastern Europe. "
    "Its delta in Romania hosts pelicans, sturgeon and hundreds of bird species. "
    "Barges carry grain and steel between Vienna, Budapest and Belgrade."
)
CFG = RefreshCleanConfig(
    boilerplate_min_docs=3,
    boilerplate_min_share=0.2,
    min_chars=20,
    min_keyword_coverage=0.3,
    min_length_ratio=0.2,
    max_length_ratio=3.0,
    template_min_docs=3,
)


def row(k: int, text: str, unit: str = "doc") -> dict:
    return {
        "id": f"{unit}#{k}",
        "source_id": unit,
        "unit_id": unit,
        "part": 0,
        "pair_index": k,
        "genre": f"g{k}",
        "audience": f"a{k}",
        "text": text,
        "error": None,
    }


def outputs_with_boilerplate(n_docs: int) -> list[list[str]]:
    return [
        [
            f"Sure! Here is the rewrite number {d}:\nBody text {d} about topic {d}.\n"
            f"Please note that this is a rewrite."
        ]
        for d in range(n_docs)
    ]


def test_boilerplate_is_learned_from_many_docs_and_stripped():
    learned = learn(outputs_with_boilerplate(10), CFG)
    assert "sure here is the" in learned.first and "please note that this" in learned.last
    text, n = strip_boilerplate(
        "Sure! Here is the rewrite number 99:\nReal content.\nPlease note that this is a rewrite.",
        learned,
        4,
    )
    assert (text, n) == ("Real content.", 2)
    # a single line is never stripped away entirely
    assert strip_boilerplate("Sure! Here is the answer", learned, 4) == (
        "Sure! Here is the answer",
        0,
    )


def test_rare_edge_lines_are_not_boilerplate():
    groups = [[f"Opening line {d} differs entirely {d * 7}\nbody"] for d in range(10)]
    groups[0] = ["Once upon a time there\nbody"]
    groups[1] = ["Once upon a time again\nbody"]
    learned = learn(groups, CFG)
    assert "once upon a time" not in learned.first  # 2 docs < boilerplate_min_docs=3
    assert edge_key("Step 12: mix", 4) == edge_key("Step 3: mix", 4)


def test_drops_are_counted_by_reason():
    learned = learn([[SOURCE]], CFG)
    good = (
        "For young sailors: the Danube flows through ten countries of Europe; its delta "
        "in Romania hosts pelicans and sturgeon, and barges move grain between Vienna "
        "and Belgrade."
    )
    rows = [
        row(0, good),
        row(1, "Short."),
        row(2, "A long story about cooking pasta, tomatoes, garlic and basil in Naples " * 3),
        row(3, good.upper()),  # same words: exact duplicate after normalisation
        row(4, ""),
        {**row(5, ""), "error": "prompt_too_long"},
        row(6, SOURCE * 5),
    ]
    res = clean_group(rows, {"doc": SOURCE}, learned, CFG)
    assert [r["id"] for r in res.kept] == ["doc#0"]
    assert {r["id"]: reason for r, reason, _ in res.dropped} == {
        "doc#1": "too_short",
        "doc#2": "low_keyword_coverage",
        "doc#3": "exact_duplicate",
        "doc#4": "empty_output",
        "doc#5": "generation_error",
        "doc#6": "length_ratio_high",
    }


def test_near_duplicates_dropped_but_shared_templates_kept():
    # A long template around short content: on all shingles two rewrites that only share
    # the template look like near duplicates (Jaccard > 0.8; asserted below).
    template = " ".join(f"frame{i}" for i in range(200))
    others = [
        [f"{template}\nItem {d}: content about subject number {d} and {d + 1}."] for d in range(6)
    ]  # the template recurs across many source documents
    a = (
        f"{template}\nThe Danube crosses ten countries; pelicans and sturgeon live in its "
        "Romanian delta, and barges carry grain and steel."
    )
    b = (
        f"{template}\nVienna, Budapest and Belgrade trade steel by barge on a river whose "
        "delta shelters hundreds of bird species."
    )
    near = a + " Every day."
    assert jaccard(shingles(a, 5), shingles(b, 5)) > 0.8
    learned = learn([*others, [a, b, near]], CFG)
    cfg = CFG.model_copy(
        update={"min_keyword_coverage": 0.0, "near_dup_threshold": 0.8, "max_length_ratio": 10.0}
    )
    res = clean_group([row(0, a), row(1, b), row(2, near)], {"doc": SOURCE}, learned, cfg)
    assert [r["id"] for r in res.kept] == ["doc#0", "doc#1"]
    assert [(r["id"], reason) for r, reason, _ in res.dropped] == [("doc#2", "near_duplicate")]


def test_keywords_and_coverage():
    kws = keywords(SOURCE, 5)
    assert "danube" in kws and "the" not in kws
    assert keyword_coverage(kws, "the danube's deltas") > 0
    assert keyword_coverage([], "anything") == 1.0
    assert keyword_coverage(kws, "nothing related at all") == 0.0


def test_count_min_sketch_never_undercounts():
    sketch = CountMinSketch(width_bits=8, depth=3)
    items = list(range(1, 400))
    sketch.add(set(items))
    sketch.add({1, 2, 3})
    counts = sketch.counts(items[:5])
    assert all(c >= 2 for c in counts[:3]) and all(c >= 1 for c in counts)
