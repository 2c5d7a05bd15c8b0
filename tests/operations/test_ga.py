"""The genre-audience operation: schema, tolerant parser with named rejects, request and
row fields."""

import json

import pytest

from maga.config import load_config
from maga.llm.base import GenResult
from maga.operations import GA, ga_schema, pair_key, parse_ga


def pairs(n, dup=False):
    out = [{"genre": f"genre {i}", "audience": f"audience {i}"} for i in range(n)]
    if dup:
        out[-1] = dict(out[0])
    return json.dumps({"pairs": out})


def test_valid_ga_output():
    parsed = parse_ga(pairs(5), 5)
    assert parsed.reject is None and len(parsed.pairs) == 5


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ('{"pairs": [{"genre": "a", "audi', "invalid_json"),
        ("no json at all", "invalid_json"),
        ('{"pairs": "five"}', "invalid_structure"),
        ('{"pairs": [{"genre": 1, "audience": "x"}]}', "invalid_structure"),
        (pairs(4), "wrong_pair_count"),
        (pairs(6), "wrong_pair_count"),
        (pairs(5, dup=True), "duplicate_pair"),
        (
            json.dumps(
                {
                    "pairs": [{"genre": " ", "audience": "x"}]
                    + [{"genre": f"g{i}", "audience": f"a{i}"} for i in range(4)]
                }
            ),
            "empty_field",
        ),
    ],
)
def test_ga_rejects_are_named(text, reason):
    assert parse_ga(text, 5).reject == reason


def test_ga_duplicates_ignore_case_and_spacing():
    data = json.loads(pairs(5))
    data["pairs"][1] = {"genre": "GENRE  0", "audience": "Audience 0 "}
    assert parse_ga(json.dumps(data), 5).reject == "duplicate_pair"
    assert pair_key(data["pairs"][1]) == pair_key(data["pairs"][0])


def test_ga_tolerates_chatter_around_json():
    assert parse_ga("Sure! Here it is:\n" + pairs(5) + "\nHope this helps.", 5).reject is None


def test_ga_schema_shape():
    s = ga_schema(5, 40)
    assert s["properties"]["pairs"]["minItems"] == 5 == s["properties"]["pairs"]["maxItems"]


def test_raw_control_characters_are_tolerated_and_removed():
    text = pairs(5).replace("genre 0", "gen\x12re 0")
    parsed = parse_ga(text, 5)
    assert parsed.reject is None
    assert parsed.pairs[0]["genre"] == "genre 0"


@pytest.mark.parametrize("cut", [1, 20, len(pairs(5)) // 2, len(pairs(5)) - 1])
def test_truncated_output_is_invalid_json(cut):
    """A generation cut at max_tokens is not JSON; it is rejected, never half-read."""
    assert parse_ga(pairs(5)[:cut], 5).reject == "invalid_json"
    assert GA.parse(pairs(5)[:cut], 5).pairs == []


def test_garbled_output_is_named():
    assert parse_ga('{"pairs": [{"genre": "a", "audience": "b"}, 7]}', 2).reject == (
        "invalid_structure"
    )
    assert parse_ga("}{ not json {", 5).reject == "invalid_json"
    assert parse_ga("[1, 2]", 2).reject == "invalid_structure"


@pytest.mark.parametrize(
    "thinking",
    [
        "<think>\nFive pairs, e.g. {genre: poem}? Let me think.\n</think>\n\n",
        "Hmm, {maybe} a limerick for sailors...\n</think>\n",  # the template opened the block
    ],
)
def test_pairs_are_read_after_the_thinking_never_from_it(thinking):
    parsed = parse_ga(thinking + pairs(5), 5)
    assert parsed.reject is None and parsed.pairs == json.loads(pairs(5))["pairs"]


def test_an_unclosed_thinking_block_has_no_answer():
    assert parse_ga("<think>\nThe pairs could be " + pairs(5), 5).reject == "invalid_json"


def test_request_schema_and_row_fields():
    cfg = load_config("tiny")
    g = cfg.generation
    req = GA.request(cfg, "doc-1", "Some text.")
    assert req.key == "doc-1" and req.max_tokens == g.ga_max_tokens
    assert req.constraint.json_schema == ga_schema(g.pairs_per_doc, g.ga_field_max_chars)
    assert req.constraint.json_schema == GA.schema(cfg)
    assert req.messages == GA.messages(cfg, "Some text.")
    assert (
        GA.request(cfg, "doc-1", "Other text.").seed == req.seed != GA.request(cfg, "d2", "").seed
    )
    n = g.pairs_per_doc
    good = GA.row(GenResult(text=pairs(n)), n)
    assert good == {"valid": True, "reject_reason": None, "pairs": json.loads(pairs(n))["pairs"]}
    dup = GA.row(GenResult(text=pairs(n, dup=True)), n)
    assert dup == {"valid": False, "reject_reason": "duplicate_pair", "pairs": []}


def test_a_failed_generation_is_a_counted_reject():
    failed = GenResult(text="", error="timeout after 3 retries")
    assert GA.outcome(failed, 5).pairs == []
    assert GA.row(failed, 5) == {
        "valid": False,
        "reject_reason": "generation_error:timeout after 3 retries",
        "pairs": [],
    }


def test_partial_rejects_are_the_rules_that_leave_pairs():
    for reason in GA.partial_rejects:
        assert reason in {"wrong_pair_count", "empty_field", "duplicate_pair"}
    assert parse_ga(pairs(4), 5).pairs and "wrong_pair_count" in GA.partial_rejects
    assert "invalid_json" not in GA.partial_rejects
