"""Hub ids resolve through huggingface_hub into the model cache, offline, everywhere a
model is named (teacher, distill.base, judge, tokenizer); local and builtin: names still work."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from maga.config import load_config
from maga.distill import derive_student
from maga.llm.models import teacher_spec
from maga.models.builtin import TINY, resolve_model
from maga.models.hub import parse_hub_id
from tests.models.hubcache import add_to_hub_cache

pytestmark = pytest.mark.timeout(180)


@pytest.fixture(scope="module")
def tiny() -> Path:
    return Path(resolve_model(TINY))


@pytest.fixture
def hub(tmp_path: Path, tiny: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An offline HF_HOME whose hub cache holds the tiny model as two repos."""
    home = tmp_path / "hf"
    add_to_hub_cache(home / "hub", "acme/teacher-8b", tiny)
    add_to_hub_cache(home / "hub", "acme/student-base", tiny)
    monkeypatch.setenv("HF_HOME", str(home))
    monkeypatch.delenv("HF_HUB_CACHE", raising=False)
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.chdir(tmp_path)  # so "acme/…" is not a folder relative to the cwd
    return home


def test_parse_hub_id() -> None:
    assert parse_hub_id("Qwen/Qwen3-8B") == ("Qwen/Qwen3-8B", None)
    assert parse_hub_id("Qwen/Qwen3-8B@main") == ("Qwen/Qwen3-8B", "main")
    for not_hub in ("/abs/folder", "a/b/c", "builtin:tiny-random", "../x/y", "plain"):
        assert parse_hub_id(not_hub) is None, not_hub


def test_hub_id_resolves_to_the_cached_snapshot(hub: Path) -> None:
    folder = Path(resolve_model("acme/teacher-8b"))
    assert folder.parent == hub / "hub" / "models--acme--teacher-8b" / "snapshots"
    assert json.loads((folder / "config.json").read_text())["num_hidden_layers"] == 2
    assert resolve_model("acme/teacher-8b@main") == str(folder)


def test_missing_model_offline_is_a_clear_error(hub: Path) -> None:
    with pytest.raises(ValueError, match=r"'acme/absent'.*HF_HUB_OFFLINE=1.*hf download"):
        resolve_model("acme/absent")


def test_local_folder_and_builtin_still_work(hub: Path, tiny: Path, tmp_path: Path) -> None:
    assert resolve_model(str(tiny)) == str(tiny)
    assert resolve_model(TINY) == str(tiny)
    # A relative folder that looks like a hub id is a folder first.
    (tmp_path / "acme" / "absent").mkdir(parents=True)
    assert resolve_model("acme/absent") == "acme/absent"


def test_derive_student_from_hub_ids(hub: Path, tmp_path: Path) -> None:
    info = derive_student("acme/teacher-8b", "teacher-layers:1", tmp_path / "s1")
    assert info["layers"] == 1
    info = derive_student("acme/teacher-8b", "acme/student-base", tmp_path / "s2")
    assert info["layers"] == 2 and (tmp_path / "s2" / "tokenizer.json").is_file()
    with pytest.raises(ValueError, match="acme/absent"):
        derive_student("acme/teacher-8b", "acme/absent", tmp_path / "s3")


def test_profile_teacher_and_judge_resolve_hub_ids(hub: Path) -> None:
    cfg = load_config("tiny", ["teacher.path=acme/teacher-8b", "distill.base=acme/student-base"])
    spec = teacher_spec(cfg)  # the judge uses the same spec
    assert Path(spec.path).parent.name == "snapshots"
    assert (Path(spec.path) / "config.json").is_file()
    # A served teacher keeps its model name (the server resolves it).
    served = load_config("tiny", ["teacher.path=acme/teacher-8b", "teacher.backend=openai"])
    assert teacher_spec(served).path == "acme/teacher-8b"
