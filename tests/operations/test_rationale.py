"""The rationale operation (``stretch``): the prompt window around the passage, and the
same free-text reading as a rewrite."""

from maga.config import load_config
from maga.llm.base import GenResult
from maga.operations import RATIONALE
from maga.operations.rationale import context
from maga.prompts.render import rationale_messages


def test_short_document_is_prompted_whole():
    cfg = load_config("tiny")
    text = "First sentence. Second sentence."
    req = RATIONALE.request(cfg, "d@0", text, 0, 15)
    assert req.messages == rationale_messages(text, "First sentence.")
    assert req.max_tokens == cfg.refresh.stretch.max_tokens and req.constraint is None


def test_long_document_is_windowed_around_the_passage():
    cfg = load_config("tiny", ["generation.max_input_chars=200"])
    text = " ".join(f"w{i}" for i in range(400))
    start = text.index("w300")
    end = start + len("w300 w301")
    window = context(cfg, text, start, end)
    assert len(window) <= 200 and text[start:end] in window and window in text


def test_outputs_are_read_as_rewrites_are():
    assert RATIONALE.row(GenResult(text=" Because it matters. ")) == {"text": "Because it matters."}
    assert RATIONALE.outcome(GenResult(text=" ")).reject == "empty_output"
    assert RATIONALE.outcome(GenResult(text="<think>x</think> y")).reject == "thinking_output"
    failed = RATIONALE.outcome(GenResult(text="", error="boom"))
    assert failed.reject == "generation_error:boom"
