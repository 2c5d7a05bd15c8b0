"""maga.text: the one definition of boilerplate and length ratio, shared by cleaning
(which strips and filters) and the data-quality report (which measures)."""

from __future__ import annotations

from maga.config import RefreshCleanConfig
from maga.refresh.clean import clean_group, learn
from maga.report.metrics import boilerplate_stats
from maga.text import boilerplate_edges, length_ratio, strip_boilerplate


def test_known_phrasings_are_stripped_even_when_no_other_output_shares_them():
    text = "Sure! Here is the rewrite for kids:\nThe castle is old.\nI hope this helps!"
    assert strip_boilerplate(text, {}, {}, 4) == ("The castle is old.", 2)
    lead, trail, why = boilerplate_edges(text, {}, {}, 4)
    assert (len(lead), len(trail)) == (1, 1) and set(why) == {"here_is", "certainly", "i_hope"}


def test_stripping_keeps_one_line_but_measuring_sees_a_text_of_pure_framing():
    assert strip_boilerplate("Sure! Here is the answer", {}, {}, 4) == (
        "Sure! Here is the answer",
        0,
    )
    assert boilerplate_edges("Sure! Here is the answer", {}, {}, 4, keep_one=False)[2]


def test_the_report_flags_exactly_the_rewrites_cleaning_strips():
    cfg = RefreshCleanConfig(boilerplate_min_docs=3, boilerplate_min_share=0.05)
    groups = [[f"Great question about item {d}!\nBody {d} text about the castle of {d}.",
               f"A plain rewrite {d} of the castle text, no framing at all."]
              for d in range(6)]  # fmt: skip
    groups[0].append("Certainly! The castle rewritten.\nIt stands on a hill.")
    learned = learn(groups, cfg)
    stripped = []
    for texts in groups:
        rows = [{"id": f"{i}", "unit_id": "u", "text": t, "error": None}
                for i, t in enumerate(texts)]  # fmt: skip
        out = clean_group(rows, {"u": "castle " * 40}, learned, cfg)
        stripped.append(out.rewrites_stripped)
    flat = [t for texts in groups for t in texts]
    srcs = [str(d) for d, texts in enumerate(groups) for _ in texts]
    stats = boilerplate_stats(flat, srcs, cfg.boilerplate_key_words, cfg.boilerplate_min_docs,
                              cfg.boilerplate_min_share)  # fmt: skip
    assert stats["flagged"] == sum(stripped) == 7  # 6 learned openings + 1 known phrasing
    assert stats["patterns"]["repeated_first_line"] == 6 and stats["patterns"]["certainly"] == 1


def test_length_ratio_is_characters():
    assert length_ratio("abcd", "ab") == 0.5
    assert length_ratio("", "abc") == 3.0  # an empty source never divides by zero
