"""Checks a profile relaxes because its models are too small are advisory: shown against
the gpu profile's limit, never a green pass, never blocking; and a blocking threshold
that no value can cross is refused at config load."""

from __future__ import annotations

import logging

import pytest

from maga.config import ConfigError, load_config
from maga.gates.collapse import gate_collapse
from maga.gates.report import render_markdown
from maga.gates.tool_models import gate_parity, gate_quantized
from maga.report.build import _check_rows

# The demo run in the issue: judged share >= 3 halved after quantization (0.44 -> 0.22).
QUANT = {"share_ge3_before": 0.44, "share_ge3_after": 0.22,
         "ga_json_valid_before": 1.0, "ga_json_valid_after": 1.0}  # fmt: skip


@pytest.mark.timeout(120)
def test_demo_quantized_drop_is_advisory_not_a_pass(caplog):
    demo = load_config("demo").gates
    with caplog.at_level(logging.WARNING, logger="maga.gates"):
        result = gate_quantized(QUANT, demo, "x")
    assert result.passed  # advisory: never stops the demo
    drop = next(c for c in result.checks if c.name == "share_ge3_drop")
    assert drop.advisory and not drop.blocking and not drop.passed  # 0.22 > gpu's 0.02
    assert drop.threshold == load_config("gpu").gates.quant_max_drop
    assert drop.detail.startswith("advisory: 0.22; the gpu profile's limit 0.02 would fail")
    same = next(c for c in result.checks if c.name == "ga_json_valid_drop")
    assert same.advisory and same.passed and "would pass" in same.detail
    page = render_markdown(result)
    assert "advisory, not enforced by this profile: share_ge3_drop, ga_json_valid_drop" in page
    for line in page.splitlines():
        if line.startswith("| share_ge3_drop") or line.startswith("| ga_json_valid_drop"):
            assert "| advisory |" in line and "| pass |" not in line, line
    rows = {r["name"]: r["status"] for r in _check_rows(result.to_dict())}  # the report
    assert rows["share_ge3_drop"] == rows["ga_json_valid_drop"] == "advisory"
    assert any("share_ge3_drop advisory: 0.22" in r.getMessage() for r in caplog.records)
    # the gpu profile blocks the same numbers
    assert not gate_quantized(QUANT, load_config("gpu").gates, "x").passed


@pytest.mark.timeout(120)
def test_demo_parity_and_collapse_vacuous_checks_are_advisory():
    demo = load_config("demo")
    parity = gate_parity({"teacher_share_ge3": 0.5, "slm_share_ge3": 0.4,
                          "ga_slm_json_valid": 0.0}, demo.gates, "x")  # fmt: skip
    json_valid = next(c for c in parity.checks if c.name == "ga_slm_json_valid")
    assert json_valid.advisory and json_valid.threshold == 0.95 and not json_valid.passed
    collapse = gate_collapse({"low_score_share": 0.95, "embedding_shift": 0.9,
                              "embedding_coverage": 0.0}, demo.report, "x")  # fmt: skip
    assert collapse.passed and all(c.advisory and not c.passed for c in collapse.checks)


def test_every_advisory_limit_is_the_gpu_profiles():
    gpu = load_config("gpu")
    for profile in ("tiny", "demo"):
        cfg = load_config(profile)
        for section, ref in ((cfg.gates, gpu.gates), (cfg.report, gpu.report),
                             (cfg.refresh.gates, gpu.refresh.gates)):  # fmt: skip
            for name, limit in section.advisory.items():
                assert limit == getattr(ref, name), (profile, name)


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ("gates.quant_max_drop=1.0", "gates.quant_max_drop=1.0 can never fail"),
        ("gates.ga_slm_min_json_valid=0", "gates.ga_slm_min_json_valid=0.0 can never fail"),
        ("report.collapse_min_coverage=0", "report.collapse_min_coverage=0.0 can never fail"),
        ("refresh.gates.max_low_score_share=1", "refresh.gates.max_low_score_share=1.0 can"),
        ("gates.advisory.quant_max_drop=1.0", "gates.advisory.quant_max_drop=1.0 can never"),
        ("gates.advisory.sft_min_rows=3", "gates.advisory.sft_min_rows: not a threshold"),
    ],
)
def test_uncrossable_blocking_threshold_is_refused_naming_the_key(override, message):
    with pytest.raises(ConfigError, match=message.replace(".", r"\.")):
        load_config("gpu", [override])
