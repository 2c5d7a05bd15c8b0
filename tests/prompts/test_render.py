"""Golden tests: the rendered prompts are data; a change to a template shows up here.

Regenerate after an intended template change with
``MAGA_UPDATE_GOLDEN=1 pytest tests/prompts``."""

import json
import os
from pathlib import Path

import pytest

from maga.prompts.render import (
    VARIANTS,
    genre_audience_messages,
    judge_messages,
    judge_rationale_messages,
    rationale_messages,
    reformulate_messages,
    render,
)

GOLDEN = Path(__file__).parent / "golden"
DOC = "The Danube is Europe's second-longest river. It flows through ten countries."
CASES = {
    "genre_audience": lambda: genre_audience_messages(DOC, 5),
    **{
        f"reformulate_{v}": (
            lambda v=v: reformulate_messages(
                DOC,
                "A radio sports commentary, breathless and loud.",
                "Retired sailors who distrust geography books.",
                v,
            )
        )
        for v in VARIANTS
    },
    "judge": lambda: judge_messages(
        DOC, "A limerick.", "Children aged eight.", "A river long, through lands it ran..."
    ),
    "rationale": lambda: rationale_messages(DOC, "It flows through ten countries."),
    "judge_rationale": lambda: judge_rationale_messages(
        DOC,
        "It flows through ten countries.",
        "A river that long crosses many borders, so it links the economies of ten states.",
    ),
}


@pytest.mark.parametrize("name", sorted(CASES))
def test_prompt_matches_golden(name):
    rendered = json.dumps(CASES[name](), indent=2, ensure_ascii=False) + "\n"
    path = GOLDEN / f"{name}.json"
    if os.environ.get("MAGA_UPDATE_GOLDEN"):
        path.write_text(rendered, encoding="utf-8")
    assert path.exists(), f"missing golden file {path}; run with MAGA_UPDATE_GOLDEN=1"
    assert rendered == path.read_text(encoding="utf-8")


def test_variants_differ_and_keep_the_pair():
    texts = {
        v: reformulate_messages(DOC, "G-genre", "A-audience", v)[1]["content"] for v in VARIANTS
    }
    assert len(set(texts.values())) == len(VARIANTS)
    for text in texts.values():
        assert "G-genre" in text and "A-audience" in text and DOC in text


def test_ga_prompt_asks_for_hostile_audiences_and_count():
    text = genre_audience_messages(DOC, 7)[1]["content"]
    assert "7" in text and "hostile" in text and DOC in text


def test_missing_value_is_named():
    with pytest.raises(KeyError, match="document"):
        render("judge.user", genre="g", audience="a", rewrite="r")


def test_unknown_variant_rejected():
    with pytest.raises(ValueError, match="prompt variant"):
        reformulate_messages(DOC, "g", "a", "creative")


def test_rationale_prompts_carry_document_passage_and_rationale():
    user = rationale_messages(DOC, "PASSAGE-X")[1]["content"]
    assert DOC in user and "PASSAGE-X" in user
    judged = judge_rationale_messages(DOC, "PASSAGE-X", "RATIONALE-Y")
    assert judged[0]["content"] == judge_messages(DOC, "g", "a", "r")[0]["content"]
    assert all(s in judged[1]["content"] for s in (DOC, "PASSAGE-X", "RATIONALE-Y"))


def _shared_prefix(a: list[dict[str, str]], b: list[dict[str, str]]) -> str:
    """The text two chats share from their start (as an engine's prefix cache sees it)."""
    return os.path.commonprefix(["".join(m["role"] + m["content"] for m in c) for c in (a, b)])


@pytest.mark.parametrize("variant", VARIANTS)
def test_pairs_of_one_document_share_the_document_as_prefix(variant):
    """Every (genre, audience) pair of a document renders the document before the pair,
    so vLLM's prefix cache computes the document's prefill once per document, not once
    per pair (half the prefill of the demo's rewrites on an AVX2 CPU; see README)."""
    one = reformulate_messages(DOC, "A limerick.", "Children.", variant)
    two = reformulate_messages(DOC, "A court transcript.", "Lawyers.", variant)
    assert DOC in _shared_prefix(one, two)
