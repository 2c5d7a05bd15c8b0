"""``maga bench``'s arithmetic: ratios within each repeat, their spread, memory growth."""

import pytest

from maga.bench import refresh as rb


def _task(tps: float, task_mib: float, engine_mib: float, load: float,
          warm: float | None = None, one_call: float | None = None) -> dict:  # fmt: skip
    return {"reformulate": {"models": {"reform_slm": {"completion_tokens_per_s": tps,
                                                      "completion_tokens": 1000}},
                            "docs": 8, "engine_spawn_seconds": 10.0},
            "engine_starts": {"gate": 0, "reformulate": 1, "clean": 0, "validate": 1},
            "process_wall_s": 60.0, "task_mib": task_mib, "engine_mib": engine_mib,
            "loadavg": load,
            "warm": {"pipeline": {"tokens_per_s": warm}, "one_call": {"tokens_per_s": one_call},
                     "seconds": 5.0} if warm else {}}  # fmt: skip


def _bare(cold: float, warm: float, load: float) -> dict:
    mode = {"tokens_per_s": warm, "completion_tokens": 1000, "loadavg": load}
    return {"one_batch_cold": {**mode, "tokens_per_s": cold}, "one_batch": mode,
            "windowed": {**mode, "tokens_per_s": warm * 1.1},
            "chunked": {**mode, "tokens_per_s": warm * 0.8},
            "unseeded": {**mode, "tokens_per_s": warm * 1.2}}  # fmt: skip


@pytest.mark.timeout(30)
def test_ratios_are_taken_within_each_repeat_and_printed_per_repeat():
    # Repeat 2 runs on a machine twice as fast: absolute figures move, its ratios do not.
    runs = [{"tasks": {"1x": _task(90, 700, 2800, 1.0), "10x": _task(100, 710, 2900, 1.5, 120, 125)},
             "bare": _bare(100, 125, 1.2)},
            {"tasks": {"1x": _task(180, 700, 2800, 1.0), "10x": _task(196, 712, 2950, 1.1, 225, 250)},
             "bare": _bare(200, 250, 3.5)},
            {"tasks": {"1x": _task(90, 700, 2800, 1.0), "10x": _task(80, 708, 2900, 1.0, 125, 125)},
             "bare": _bare(100, 125, 1.0)}]  # fmt: skip
    f = rb._figures("tiny", "m", 8, 10, runs)
    # first pass each: the pipeline's rewrite pass over a fresh engine's one call
    assert f["ratios"]["pipeline_one_batch"] == {"median": 0.98, "min": 0.8, "max": 1.0, "n": 3}
    assert [p["ratio"] for p in f["per_repeat"]] == [1.0, 0.98, 0.8]
    # warm: the pipeline's repeated passes over one-call passes on the same engine
    assert [p["ratio_warm"] for p in f["per_repeat"]] == [0.96, 0.9, 1.0]
    assert f["ratios"]["pipeline_warm_one_batch"]["median"] == pytest.approx(0.96)
    assert f["per_repeat"][1]["loadavg_max"] == 3.5 and f["loadavg_max"] == 3.5
    assert f["ratios"]["chunked_one_batch"]["median"] == pytest.approx(0.8)
    assert f["memory_growth_10x_over_1x"]["task"] == pytest.approx(710 / 700, abs=1e-3)
    assert f["tasks"]["10x"]["wall_s"]["median"] == 55.0  # the bench's warm pass left out
    text = rb.render(f)
    assert (
        "first pass on a fresh engine each (the pipeline's engine ran the GA pass before it): 0.980 [0.800, 1.000]"
        in text
    )
    assert "196 / 200 = 0.980 (3.5)" in text
    assert "same warm engine, interleaved (3 pairs per repeat; target >= 0.97): 0.960" in text
    assert "225 / 250 = 0.900" in text


@pytest.mark.timeout(30)
def test_figures_without_the_warm_pass_still_render():
    runs = [{"tasks": {"1x": _task(90, 700, 2800, 1.0), "10x": _task(100, 710, 2900, 1.0)},
             "bare": _bare(100, 125, 1.0)}]  # fmt: skip
    f = rb._figures("tiny", "m", 8, 10, runs)
    assert "pipeline_warm_one_batch" not in f["ratios"]
    assert "same warm engine" not in rb.render(f)
