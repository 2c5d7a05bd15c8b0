"""The judge operation (rewrites and ``stretch`` rationales): schema, tolerant parser,
request and the row fields every judge writes."""

import pytest

from maga.config import load_config
from maga.llm.base import GenResult
from maga.operations import JUDGE, JUDGE_RATIONALE, judge_schema, parse_judge
from maga.operations.judge import FIELDS
from maga.prompts.render import judge_messages, judge_rationale_messages


def test_judge_parse():
    assert parse_judge('{"score": 4, "reason": "ok"}').score == 4
    assert parse_judge('{"score": "5", "reason": ""}').score == 5
    assert parse_judge('{"score": 9, "reason": ""}').reject == "score_out_of_range"
    assert parse_judge('{"score": true}').reject == "score_out_of_range"
    assert parse_judge("Score: 2 because").score == 2
    assert parse_judge("garbage").reject == "unparseable_judge_output"


def test_judge_schema_shape():
    assert judge_schema()["properties"]["score"]["enum"] == [1, 2, 3, 4, 5]
    assert judge_schema(50)["properties"]["reason"]["maxLength"] == 50


@pytest.mark.parametrize(
    ("text", "score", "reject"),
    [
        ('{"score": 4, "reason": "keeps the fa', 4, None),  # cut mid-reason: the score stands
        ('{"score": ', None, "unparseable_judge_output"),
        ('{"reason": "fine"}', None, "score_out_of_range"),
        ('{"score": 0, "reason": ""}', None, "score_out_of_range"),
        ('{"score": [4]}', None, "score_out_of_range"),
        ("", None, "unparseable_judge_output"),
    ],
)
def test_truncated_and_garbled_judgements(text, score, reject):
    parsed = parse_judge(text)
    assert (parsed.score, parsed.reject) == (score, reject)


def test_reason_is_cleaned_of_control_characters():
    assert parse_judge('{"score": 3, "reason": " so\x07 so "}').reason == "so so"


@pytest.mark.parametrize(
    "text",
    [
        '<think>\nThe facts {mostly} hold; score: 2? No.\n</think>\n{"score": 4, "reason": "ok"}',
        'It keeps the facts, score = 1 is too harsh.\n</think>\n{"score": 4, "reason": "ok"}',
        "<think>score: 1</think>\nScore: 4",
    ],
)
def test_the_score_is_read_after_the_thinking_never_from_it(text):
    parsed = parse_judge(text)
    assert parsed.score == 4 and parsed.reject is None


def test_an_unclosed_thinking_block_is_unparseable():
    parsed = parse_judge('<think>\nI would say {"score": 5} but')
    assert parsed.score is None and parsed.reject == "unparseable_judge_output"


def test_row_fields_and_the_failed_generation():
    assert FIELDS == ("score", "judge_reason", "judge_reject")
    good = JUDGE.row(GenResult(text='{"score": 5, "reason": "faithful"}'))
    assert good == {"score": 5, "judge_reason": "faithful", "judge_reject": None}
    bad = JUDGE.row(GenResult(text="garbage"))
    assert bad == {"score": None, "judge_reason": "", "judge_reject": "unparseable_judge_output"}
    failed = JUDGE_RATIONALE.row(GenResult(text="", error="http 500 after 2 retries"))
    assert failed == {"score": None, "judge_reason": "",
                      "judge_reject": "generation_error:http 500 after 2 retries"}  # fmt: skip


def test_requests_render_the_judge_prompts_under_the_schema():
    cfg = load_config("tiny")
    source = "The Danube flows through ten countries. It ends in a delta."
    rewrite = {"genre": "A limerick.", "audience": "Children.", "text": "A river long..."}
    req = JUDGE.request(cfg, "judge:x#0", source, rewrite)
    assert req.messages == judge_messages(source, "A limerick.", "Children.", "A river long...")
    assert req.temperature == 0.0 and req.max_tokens == cfg.generation.judge_max_tokens
    assert req.constraint.json_schema == judge_schema(cfg.generation.judge_reason_max_chars)
    rationale = {"text": "So it links ten economies.", "passage_start": 0, "anchor": 39}
    req = JUDGE_RATIONALE.request(cfg, "judge:x@0", source, rationale)
    assert req.messages == judge_rationale_messages(source, source[:39], rationale["text"])
    assert req.constraint.json_schema == JUDGE.schema(cfg)
    assert JUDGE_RATIONALE.templates(cfg) == ["judge.system", "judge_rationale.user"]
