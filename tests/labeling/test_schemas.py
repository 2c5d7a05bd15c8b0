import json

import pytest

from maga.labeling.schemas import ga_schema, judge_schema, parse_ga, parse_judge


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


def test_ga_tolerates_chatter_around_json():
    assert parse_ga("Sure! Here it is:\n" + pairs(5) + "\nHope this helps.", 5).reject is None


def test_judge_parse():
    assert parse_judge('{"score": 4, "reason": "ok"}').score == 4
    assert parse_judge('{"score": "5", "reason": ""}').score == 5
    assert parse_judge('{"score": 9, "reason": ""}').reject == "score_out_of_range"
    assert parse_judge('{"score": true}').reject == "score_out_of_range"
    assert parse_judge("Score: 2 because").score == 2
    assert parse_judge("garbage").reject == "unparseable_judge_output"


def test_schemas_shape():
    s = ga_schema(5, 40)
    assert s["properties"]["pairs"]["minItems"] == 5 == s["properties"]["pairs"]["maxItems"]
    assert judge_schema()["properties"]["score"]["enum"] == [1, 2, 3, 4, 5]


def test_raw_control_characters_are_tolerated_and_removed():
    text = pairs(5).replace("genre 0", "gen\x12re 0")
    parsed = parse_ga(text, 5)
    assert parsed.reject is None
    assert parsed.pairs[0]["genre"] == "genre 0"
