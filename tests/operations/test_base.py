"""What every operation shares: seeds, truncation, the counted name of a reject, the
thinking-free answer, and the failed generation as one reject everywhere."""

import subprocess
import sys

import pytest

from maga.config import load_config
from maga.llm.base import GenResult
from maga.operations import GA, JUDGE, JUDGE_RATIONALE, RATIONALE, REWRITE, doc_seed, reject_kind
from maga.operations import truncate as cut
from maga.operations.base import answer_part
from maga.refresh.layout import refresh_templates

OPS = [(GA, (5,)), (REWRITE, ()), (RATIONALE, ()), (JUDGE, ()), (JUDGE_RATIONALE, ())]


def test_seed_and_truncate():
    assert doc_seed("a") == doc_seed("a") != doc_seed("b")
    assert doc_seed("a", 1) != doc_seed("a")
    assert cut("short", 10) == ("short", False)
    text, was_cut = cut("alpha beta gamma delta", 13)
    assert was_cut and text == "alpha beta"


def test_reject_kind():
    assert reject_kind("generation_error:timeout: after 3 retries") == "generation_error"
    assert reject_kind("invalid_json") == "invalid_json"


def test_answer_part():
    assert answer_part("no tags") == "no tags"
    assert answer_part("<think>a</think>b") == "b"
    assert answer_part("a</think>b") == "b"
    assert answer_part("<think>never closed") == ""


@pytest.mark.parametrize(("op", "args"), OPS, ids=lambda o: getattr(o, "name", ""))
def test_every_operation_rejects_a_failed_generation_the_same_way(op, args):
    """Whatever text came with it: an error result is never parsed."""
    error = "connection error after 3 retries"
    parsed = op.outcome(GenResult(text='{"score": 5, "pairs": []}', error=error), *args)
    assert parsed.reject == f"generation_error:{error}"
    assert reject_kind(parsed.reject) == "generation_error"
    assert parsed == op.failed(f"generation_error:{error}")


@pytest.mark.parametrize("mode", ["documents", "stretch"])
def test_the_refresh_fingerprints_the_templates_its_operations_render(mode):
    cfg = load_config("tiny", [f"refresh.output_mode={mode}"])
    expected = {"genre_audience.system", "genre_audience.user", "reformulate.system",
                "reformulate.base.user", "judge.system", "judge.user"}  # fmt: skip
    if mode == "stretch":
        expected |= {"rationale.system", "rationale.user", "judge_rationale.user"}
    assert set(refresh_templates(cfg)) == expected


def test_importing_the_operations_loads_neither_airflow_nor_vllm():
    code = (
        "import sys, maga.operations; "
        "print(sorted({m.split('.')[0] for m in sys.modules} & {'airflow', 'vllm', 'torch'}))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
