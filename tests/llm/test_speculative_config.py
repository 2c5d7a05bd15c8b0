"""Speculative decoding as a profile option: config wiring into vLLM's engine arguments
(the CPU build accepts ngram; suffix needs arctic-inference, which is not installed)."""

import pytest

from maga.config import ConfigError, SpeculativeConfig, load_config


@pytest.mark.timeout(30)
def test_profile_override_turns_ngram_speculation_on_for_the_students():
    cfg = load_config("tiny", ["student_engine.speculative.method=ngram",
                               "student_engine.speculative.num_speculative_tokens=3"])  # fmt: skip
    spec = cfg.student_engine.speculative
    assert spec.engine_args() == {"method": "ngram", "num_speculative_tokens": 3,
                                  "prompt_lookup_min": 2, "prompt_lookup_max": 5}  # fmt: skip
    assert load_config("tiny").student_engine.speculative is None  # off by default
    assert cfg.teacher.engine.speculative is None


@pytest.mark.timeout(30)
def test_suffix_args_and_bad_settings_fail_early():
    assert SpeculativeConfig(method="suffix").engine_args() == {
        "method": "suffix",
        "num_speculative_tokens": 4,
    }
    with pytest.raises(ConfigError, match="prompt_lookup_min"):
        load_config("tiny", ["student_engine.speculative.prompt_lookup_min=6"])
    with pytest.raises(ConfigError, match="method"):
        load_config("tiny", ["student_engine.speculative.method=medusa"])


@pytest.mark.timeout(30)
def test_window_defaults_to_four_times_max_num_seqs():
    cfg = load_config("tiny")
    assert cfg.student_engine.window == 4 * cfg.student_engine.max_num_seqs
    assert load_config("tiny", ["student_engine.inflight_requests=7"]).student_engine.window == 7
