"""Text metrics on hand-made texts whose answers are known."""

from __future__ import annotations

import pytest

from maga.report.metrics import (
    boilerplate_stats,
    describe,
    distinct_n,
    length_ratios,
    score_counts,
    score_shares,
)
from maga.text import phrase_hits


def test_distinct_n_counts_unique_ngrams_over_all_texts() -> None:
    assert distinct_n(["a b a b"], 1) == 0.5  # 2 unique of 4
    assert distinct_n(["a b a b"], 2) == pytest.approx(2 / 3)  # ab, ba, ab
    assert distinct_n(["a b", "a b"], 2) == 0.5
    assert distinct_n(["one"], 2) is None


def test_the_report_measures_keyword_coverage_as_cleaning_does() -> None:
    """One definition: the coverage the report shows is the one cleaning filters on."""
    from maga.text import keyword_coverage, keywords, source_coverage

    source = "Glacier glacier ice moves slowly; the glacier carves valleys and lakes."
    assert keywords(source, 4) == ["glacier", "moves", "slowly", "carves"]
    rewrite = "Two glaciers: one moves slowly."  # "glaciers" matches by its 6-letter stem
    assert source_coverage(source, rewrite, 4) == keyword_coverage(keywords(source, 4), rewrite)
    assert source_coverage(source, rewrite, 4) == 0.75
    assert source_coverage(source, "Nothing related here.", 4) == 0.0
    assert source_coverage("the of and", "anything", 4) is None  # no keywords: left out


def test_boilerplate_patterns_and_rate() -> None:
    assert phrase_hits("Please note that the castle is old.") == ["please_note"]
    assert phrase_hits("Sure! Here is a rewritten version for kids.") == [
        "here_is", "certainly", "rewritten_version"]  # fmt: skip
    assert phrase_hits("The castle stands on a hill.") == []
    stats = boilerplate_stats(["Please note that x.", "Clean text.", "As an AI I cannot.", "Ok."])
    assert stats["rate"] == 0.5 and stats["flagged"] == 2
    assert stats["patterns"] == {"please_note": 1, "as_an_ai": 1}
    # a known phrasing in the middle of a text is content, not framing
    assert boilerplate_stats(["Intro line.\nPlease note the moat.\nClosing line."])["flagged"] == 0


def test_repeated_openings_count_sources_not_rewrites() -> None:
    same_source = ["Aaron Copland was a composer\nof American music"] * 5
    assert boilerplate_stats(same_source, ["s1"] * 5)["flagged"] == 0
    template = [f"In this engaging story about topic {i}\n{name} lived here."
                for i, name in enumerate(("Ada", "Ben", "Cleo", "Dev"))]  # fmt: skip
    stats = boilerplate_stats(template, [f"s{i}" for i in range(4)])
    assert stats["frequent_openings"] == {"in this engaging story": 4}
    assert stats["patterns"] == {"repeated_first_line": 4} and stats["rate"] == 1.0
    # cleaning's own threshold applies: 4 sources < min_docs=5
    assert boilerplate_stats(template, [f"s{i}" for i in range(4)], min_docs=5)["flagged"] == 0


def test_length_ratios_and_describe() -> None:
    ratios = length_ratios([("abcd", "ab"), ("ab", "abcd"), ("", "x")])
    assert ratios == [0.5, 2.0]  # characters, as cleaning's length bounds measure
    d = describe([1.0, 2.0, 3.0, 4.0, 5.0])
    assert (d["n"], d["mean"], d["p50"], d["min"], d["max"]) == (5, 3.0, 3.0, 1.0, 5.0)
    assert describe([])["mean"] is None


def test_score_shares_match_table3_definitions() -> None:
    counts = score_counts([5, 4, 4, 3, 2, 1, None, "x"])
    assert counts == {"1": 1, "2": 1, "3": 1, "4": 2, "5": 1, "unparsed": 2}
    shares = score_shares(counts)
    assert shares["scored"] == 6 and shares["unparsed"] == 2
    assert shares["ge4"] == 0.5 and shares["eq5"] == pytest.approx(1 / 6, abs=1e-6)
    assert shares["le2"] == pytest.approx(2 / 6, abs=1e-6)
    assert shares["ge3"] == pytest.approx(4 / 6, abs=1e-6)
    assert score_shares(score_counts([]))["ge4"] is None
