import pytest

from maga.config import ConfigError, load_config


@pytest.mark.parametrize("profile", ["tiny", "demo", "gpu"])
def test_profiles_load(profile):
    cfg = load_config(profile)
    assert cfg.profile == profile


def test_overrides_are_typed():
    cfg = load_config("tiny", ["sampling.size=20", "generation.prompt_variant=strict"])
    assert cfg.sampling.size == 20 and cfg.generation.prompt_variant == "strict"


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ("generation.prompt_variant=creative", "generation.prompt_variant"),
        ("sampling.size=-1", "sampling.size"),
        ("sampling.sise=3", "sampling.sise"),
        ("judge.keep_threshold=9", "judge.keep_threshold"),
        ("sampling.min_chars=99999", "min_chars"),
        ("nonsense", "key=value"),
    ],
)
def test_bad_config_fails_early_naming_the_key(override, message):
    with pytest.raises(ConfigError, match=message):
        load_config("tiny", [override])


def test_unknown_profile_lists_known_ones():
    with pytest.raises(ConfigError, match="tiny"):
        load_config("nope")


def test_storage_root_from_environment(monkeypatch):
    monkeypatch.setenv("MAGA_STORAGE_ROOT", "s3://bucket/maga")
    assert load_config("tiny").storage.root == "s3://bucket/maga"
    assert load_config("tiny", ["storage.root=/x"]).storage.root == "/x"


def test_kept_engines_must_fit_one_gpu_side_by_side() -> None:
    """Issue 23 (9): `runner.keep_engines > 1` with the gpu profile's 0.85 shares would
    start engines that cannot all fit; the demo's five small CPU shares do."""
    with pytest.raises(ConfigError, match="runner.keep_engines=2"):
        load_config("gpu", ["runner.keep_engines=2"])
    ok = ["runner.keep_engines=2", "student_engine.gpu_memory_utilization=0.45",
          "teacher.engine.gpu_memory_utilization=0.45"]  # fmt: skip
    assert load_config("gpu", ok).runner.keep_engines == 2
    assert load_config("demo").runner.keep_engines == 5
