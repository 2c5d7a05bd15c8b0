"""Issue 23, point 7: determinism (per-request seeds; on a GPU an in-process engine core)
is on where it is free (CPU engines) and off on a GPU unless ``runner.deterministic``
asks for it; the setting reaches every engine a run starts."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from maga.config import load_config
from maga.llm import engine_process
from maga.llm.jobs import EngineSession, ModelSpec, keep_engines, open_session

pytestmark = pytest.mark.timeout(60)


def _modes(session: EngineSession) -> tuple[bool, bool]:
    session.close()
    return session.deterministic, session.seeds


def test_default_is_reproducible_on_cpu_and_fast_on_a_gpu(monkeypatch) -> None:
    monkeypatch.setattr(engine_process, "accelerator_visible", lambda: False)
    assert _modes(EngineSession()) == (True, True)
    monkeypatch.setattr(engine_process, "accelerator_visible", lambda: True)
    assert _modes(EngineSession()) == (False, False)
    assert _modes(EngineSession(deterministic=True)) == (True, True)  # asked for: honoured
    assert _modes(EngineSession(deterministic=False, seeds=True)) == (False, True)


def test_runner_setting_reaches_pooled_and_own_sessions(monkeypatch) -> None:
    monkeypatch.setattr(engine_process, "accelerator_visible", lambda: True)
    cfg = load_config("gpu", ["runner.deterministic=true"])
    assert load_config("gpu").runner.deterministic is None
    own = open_session(cfg.runner.deterministic)
    assert isinstance(own, EngineSession) and _modes(own) == (True, True)
    with keep_engines(1, cfg.runner.deterministic) as pool:
        session = pool.session_for(ModelSpec(label="x", path="/nowhere"))
        assert (session.deterministic, session.seeds) == (True, True)


def test_the_worker_is_told_both_modes(monkeypatch, tmp_path: Path) -> None:
    monkeypatch.setattr(engine_process, "accelerator_visible", lambda: True)
    session = EngineSession()
    monkeypatch.setattr(engine_process.subprocess, "Popen", _Refuse)
    with pytest.raises(RuntimeError, match="no engine here"):
        session.launch(ModelSpec(label="x", path="/nowhere"))
    spec = json.loads((Path(session._tmp.name) / "spec.json").read_text())
    assert (spec["deterministic"], spec["seeds"]) == (False, False)
    session.close()


class _Refuse:
    def __init__(self, *a, **k) -> None:
        raise RuntimeError("no engine here")
