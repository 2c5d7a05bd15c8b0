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
