"""The rewrite operation: request under the prompt variant, and the free-text reading
(stripped; empty, thinking and failed outputs are named rejects)."""

import pytest

from maga.config import load_config
from maga.llm.base import GenResult
from maga.operations import REWRITE, parse_text
from maga.prompts.render import reformulate_messages


def test_good_output_is_stripped():
    parsed = parse_text("\n  Once upon a time, a river.  \n")
    assert (parsed.text, parsed.reject) == ("Once upon a time, a river.", None)
    assert REWRITE.row(GenResult(text=" A river. ")) == {"text": "A river."}


def test_truncated_and_garbled_text_is_still_a_rewrite():
    """Free text has no shape to break: a cut-off or odd rewrite is the cleaning's and
    the judge's to weigh, not the parser's."""
    for text in ("Once upon a ti", "}{ \x07 ]]"):
        assert parse_text(text).reject is None


@pytest.mark.parametrize("text", ["", "   \n\t "])
def test_empty_output(text):
    assert parse_text(text).reject == "empty_output"


@pytest.mark.parametrize(
    "text",
    ["<think>\nThe user wants a poem.\n</think>\n\nA river long.", "plan first</think> A river."],
)
def test_thinking_output_is_a_reject_but_keeps_its_text(text):
    parsed = parse_text(text)
    assert parsed.reject == "thinking_output" and parsed.text == text.strip()


def test_a_failed_generation_is_a_counted_reject():
    parsed = REWRITE.outcome(GenResult(text="", error="engine died"))
    assert (parsed.text, parsed.reject) == ("", "generation_error:engine died")


@pytest.mark.parametrize("variant", ["base", "strict", "relaxed"])
def test_request_renders_the_variant(variant):
    cfg = load_config("tiny", [f"generation.prompt_variant={variant}"])
    req = REWRITE.request(cfg, "d#1", "Doc.", "Poem.", "Kids.")
    assert req.messages == reformulate_messages("Doc.", "Poem.", "Kids.", variant)
    assert req.constraint is None and req.max_tokens == cfg.generation.rewrite_max_tokens
    assert REWRITE.templates(cfg) == ["reformulate.system", f"reformulate.{variant}.user"]
    assert REWRITE.schema(cfg) is None
