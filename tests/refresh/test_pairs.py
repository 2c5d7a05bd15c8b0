"""More generations per source than one GA pass gives: extra rounds with their own
seeds, no repeated pair, malformed rounds counted, never a crashed chunk."""

from __future__ import annotations

import json

import pytest

from maga.config import load_config
from maga.llm.base import GenResult, UsageCounter
from maga.llm.jobs import JobOutcome
from maga.refresh.pairs import collect_pairs, max_rounds, pair_key, round_key


class Scripted:
    """GA answers by request key: a list of (genre, audience) per key, or raw text."""

    def __init__(self, answers: dict[str, object]) -> None:
        self.answers, self.keys = answers, []

    def generate(self, spec, requests):
        results = []
        for req in requests:
            self.keys.append(req.key)
            got = self.answers.get(req.key, [])
            text = (
                got
                if isinstance(got, str)
                else json.dumps({"pairs": [{"genre": g, "audience": a} for g, a in got]})
            )
            results.append(GenResult(text=text, prompt_tokens=10, completion_tokens=5))
        usage = UsageCounter()
        usage.add(results, 0.5)
        return JobOutcome(results, usage)


def cfg(target: int, per_call: int = 3, extra: int = 1):
    return load_config(
        "tiny",
        [
            f"refresh.generations_per_source={target}",
            f"generation.pairs_per_doc={per_call}",
            f"refresh.ga_extra_rounds={extra}",
        ],
    )


UNIT = {"unit_id": "d1", "source_id": "d1", "part": 0, "text": "A document."}


def test_rounds_fill_the_target_without_repeats():
    session = Scripted(
        {
            "d1": [("Poem", "kids"), ("poem ", "Kids"), ("Memo", "boss")],  # a repeat inside
            round_key("d1", 1): [("Memo", "boss"), ("FAQ", "nurses"), ("Ode", "cats")],
            round_key("d1", 2): [("Rap", "teens"), ("Log", "pilots"), ("Quiz", "kids")],
        }
    )
    rows, usage = collect_pairs(cfg(6), session, None, [UNIT])
    row = rows[0]
    assert row["reject_reason"] is None and row["short"] == 0 and row["rounds"] == 3
    assert [p["genre"] for p in row["pairs"]] == ["Poem", "Memo", "FAQ", "Ode", "Rap", "Log"]
    assert len({pair_key(p) for p in row["pairs"]}) == 6
    assert row["events"] == {"duplicate_pair": 1, "repeated_pair": 2}  # poem again, Memo again
    assert usage["requests"] == 3 and usage["completion_tokens"] == 15


def test_round_zero_is_the_single_pass_request_and_rounds_are_capped():
    c = cfg(5, per_call=5, extra=2)
    assert max_rounds(c) == 3 and round_key("d1", 0) == "d1"
    session = Scripted({"d1": "{not json", round_key("d1", 1): [("A", "b")]})
    rows, _ = collect_pairs(c, session, None, [UNIT])
    assert session.keys == ["d1", "d1~ga1", "d1~ga2"]  # stops at the cap
    assert rows[0]["pairs"] == [{"genre": "A", "audience": "b"}] and rows[0]["short"] == 4
    assert rows[0]["reject_reason"] is None and rows[0]["events"]["invalid_json"] == 1


def test_a_document_with_no_pair_is_rejected_with_the_first_reason():
    rows, _ = collect_pairs(cfg(3, extra=0), Scripted({"d1": "nope"}), None, [UNIT])
    assert rows[0]["reject_reason"] == "invalid_json" and rows[0]["pairs"] == []
    assert rows[0]["raw"] == "nope"


class Streaming(Scripted):
    """``Scripted`` with a session stream that answers groups in reverse order, as a
    real engine may finish a later chunk first."""

    def __init__(self, answers: dict[str, object]) -> None:
        super().__init__(answers)
        self.streams = 0

    def stream(self, spec, groups):
        self.streams += 1
        for group, requests in reversed(list(groups)):
            yield group, self.generate(spec, requests)


@pytest.mark.timeout(30)
def test_streamed_chunks_get_the_rows_collect_pairs_gives_each_alone():
    from maga.refresh.pairs import stream_pairs

    answers = {
        "a": [("Poem", "kids"), ("Memo", "boss"), ("FAQ", "nurses")],
        "b": "not json",  # malformed: retried next round
        round_key("b", 1): [("Ode", "cats"), ("Ode", "cats"), ("Log", "pilots")],
        round_key("b", 2): [("Rap", "teens"), ("Quiz", "kids"), ("Map", "hikers")],
        "c": [("Poem", "kids")],
    }
    chunks = {
        0: [{**UNIT, "unit_id": "a", "source_id": "a"}, {**UNIT, "unit_id": "b", "source_id": "b"}],
        1: [{**UNIT, "unit_id": "c", "source_id": "c"}],
        2: [],
    }
    c = cfg(3)
    alone = {k: collect_pairs(c, Scripted(answers), None, units) for k, units in chunks.items()}
    session = Streaming(answers)
    got = {k: (rows, usage) for k, rows, usage in stream_pairs(c, session, None, [0, 1, 2],
                                                               chunks.__getitem__)}  # fmt: skip
    assert sorted(got) == [0, 1, 2]
    for k in chunks:
        assert got[k][0] == alone[k][0]
        assert got[k][1]["requests"] == alone[k][1]["requests"]
    assert got[0][0][1]["rounds"] == 2 and got[0][0][1]["short"] == 1  # b: retried
    assert got[1][0][0]["short"] == 2 and got[0][0][0]["rounds"] == 1  # a: done in one
    assert session.streams == max_rounds(c)  # one engine call per round, not per chunk
