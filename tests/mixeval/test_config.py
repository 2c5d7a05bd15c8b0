"""The proxy configuration is typed: a bad value fails on load naming its key, and the
profiles hold what the issue asks (tiny/demo: a small CPU proxy with the gate off and a
stated reason; gpu: a ~300M proxy, 1B tokens, bf16)."""

from __future__ import annotations

import pytest

from maga.config import ConfigError, load_config
from maga.mixeval.proxy import parameter_count

pytestmark = [pytest.mark.timeout(60)]


@pytest.mark.parametrize(
    ("override", "key"),
    [
        ("mix_eval.proxy.width=130", "mix_eval.proxy"),  # not a multiple of 4 heads
        ("mix_eval.seeds=[1]", "mix_eval.seeds"),  # a spread needs 2 seeds
        ("mix_eval.curve_multiples=[2,4]", "mix_eval.curve_multiples"),
        ("mix_eval.proxy.layer=3", "mix_eval.proxy.layer"),  # a typo
        ("mix_eval.recipes=[maga]", "mix_eval.recipes"),
        ("mix_eval.proxy.device=tpu", "mix_eval.proxy.device"),
    ],
)
def test_bad_values_fail_on_load_naming_the_key(override, key):
    with pytest.raises(ConfigError, match=key.replace(".", r"\.")):
        load_config("tiny", [override])


def test_profiles():
    for name in ("tiny", "demo"):
        ev = load_config(name).mix_eval
        assert ev.proxy.device == "cpu" and not ev.gate.enabled and ev.gate.reason
        assert len(ev.seeds) >= 2 and parameter_count(ev.proxy, 2048) < 5_000_000
    gpu = load_config("gpu").mix_eval
    assert gpu.proxy.bf16 and gpu.proxy.device == "cuda" and gpu.proxy.token_budget >= 1e9
    assert 250e6 <= parameter_count(gpu.proxy, 49152) <= 320e6


def test_a_per_form_mix_can_be_chosen():
    ev = load_config("tiny", ["mix_eval.recipes=[maga_mix_stitch,maga_mix_documents]"]).mix_eval
    assert ev.recipes == ["maga_mix_stitch", "maga_mix_documents"]
