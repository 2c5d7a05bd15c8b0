"""``maga bench-lora``'s requests and figures, without engines (the measurement itself
is ``make bench-lora``; the serving it measures is tested in tests/llm/test_lora.py)."""

import pytest

from maga.bench import lora as bl
from maga.config import load_config

pytestmark = pytest.mark.timeout(60)
CFG = load_config("tiny", ["distill.adapter=lora", "quantize.scheme=none"])


def test_both_shapes_get_the_same_fixed_requests():
    docs = [{"id": "a", "text": "The river flows. " * 10}, {"id": "b", "text": "Ships. " * 9}]
    ga, rw, items = bl.requests(CFG, docs)
    n = CFG.generation.pairs_per_doc
    assert len(ga) == 2 and len(rw) == len(items) == 2 * n
    again = bl.requests(CFG, docs)
    assert [r.messages for r in again[1]] == [r.messages for r in rw]  # no GA output in them
    assert len({(it["genre"], it["audience"]) for it in items[:n]}) == n  # distinct pairs
    records = bl._sft_records(CFG, docs)
    assert set(records) == {"ga", "reform"} and len(records["reform"]) == 2 * n
    assert '"pairs"' in records["ga"][0]["completion"]


def _run(tps: float, startup: float, starts: int, judged: bool) -> dict:
    run = {"engine_starts": starts, "startup_s": startup, "engine_build_s": startup / 2,
           "tokens_per_s": tps, "ga_tokens_per_s": tps, "rewrite_tokens_per_s": tps,
           "shard_wall_s": startup + 10, "ga_json_valid": 0.5, "rewrites": ["x", "y"],
           "loadavg": 3.0}  # fmt: skip
    if judged:
        run["judged_share_ge3"] = 0.25
    return run


@pytest.mark.parametrize("judged", [True, False])
def test_ratios_are_taken_within_each_repeat(judged: bool):
    runs = [
        {"two_engines_int8": _run(50, 40, 2, judged), "two_engines": _run(100, 40, 2, judged),
         "one_lora_engine": _run(100 * k, 20, 1, judged)}
        for k in (1.0, 2.0, 1.5)
    ]  # fmt: skip
    f = bl._figures("m", 8, 8, 40, runs, {}, 1.0, judged)
    r = f["ratios"]["one_lora_engine/two_engines"]
    assert r["tokens_per_s"] == {"median": 1.5, "min": 1.0, "max": 2.0, "n": 3}
    assert r["engine_starts"]["median"] == 0.5 and r["startup_s"]["median"] == 0.5
    assert f["ratios"]["one_lora_engine/two_engines_int8"]["tokens_per_s"]["median"] == 3.0
    assert r["ga_json_valid_diff"]["median"] == 0.0
    assert f["rewrites_identical_lora_vs_merged"] == 1.0
    text = bl.render(f)
    assert "| one_lora_engine | 1 |" in text
    assert ("not measured" in text) is not judged
    assert ("judged_share_ge3_diff" in r) is judged


def test_figures_of_a_run_without_the_int8_shape():
    """``--shapes two_engines,one_lora_engine`` (the suite's tiny run): ratios against the
    shapes measured only, and the table renders."""
    runs = [{"two_engines": _run(100, 40, 2, False), "one_lora_engine": _run(80, 20, 1, False)}]
    f = bl._figures("m", 2, 2, 10, runs, {}, 1.0, False)
    assert set(f["shapes"]) == {"two_engines", "one_lora_engine"}
    assert list(f["ratios"]) == ["one_lora_engine/two_engines"]
    assert f["ratios"]["one_lora_engine/two_engines"]["startup_s"]["median"] == 0.5
    assert "two_engines_int8" not in bl.render(f)
    with pytest.raises(ValueError, match="one_lora_engine"):
        bl.run_bench_lora(shapes=("two_engines",))
