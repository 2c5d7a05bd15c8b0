"""The Trigger form of both DAGs, as Airflow 3.3's UI treats it: a Param whose JSON-schema
type has no "null" is a required field, and an emptied field is sent as null. So every
field whose help says "Empty: ..." must accept null, the defaults must validate, and
the defaults must map to no override at all (the run uses the profile's settings)."""

from __future__ import annotations

import runpy
from pathlib import Path

import pytest

from maga.config import load_config
from maga.pipelines.airflow_glue import PARAM_KEYS, params_to_overrides

ROOT = Path(__file__).resolve().parents[2]
DAGS = {"maga_tool_models": "maga_tool_models.py", "maga_corpus_refresh": "maga_corpus_refresh.py"}


def load(dag_id: str, monkeypatch):
    monkeypatch.setenv("AIRFLOW__CORE__LOAD_EXAMPLES", "False")
    for key in ("MAGA_PROFILE", "MAGA_MODEL_QUEUE"):
        monkeypatch.delenv(key, raising=False)
    return runpy.run_path(str(ROOT / "dags" / DAGS[dag_id]))[dag_id]()


def ui_required(schema: dict) -> bool:
    """Airflow 3.3 UI (FlexibleForm isRequired): typed and "null" not among the types."""
    kind = schema.get("type")
    return bool(kind) and not (isinstance(kind, list) and "null" in kind)


@pytest.mark.timeout(60)
@pytest.mark.parametrize("dag_id", sorted(DAGS))
def test_every_field_that_may_be_empty_accepts_null(dag_id, monkeypatch):
    params = load(dag_id, monkeypatch).params
    for name in params:
        param = params.get_param(name)
        text = param.description or ""
        assert text, f"{name} has no help text"
        if "Empty" in text:
            assert not ui_required(param.schema), f"{name}: the UI would require it"
            assert param.value in (None, []), f"{name}: default {param.value!r} is not empty"
            param.resolve(None)  # the value the form sends for an emptied field validates
        elif ui_required(param.schema):
            assert param.value not in (None, ""), f"{name}: required but empty by default"


@pytest.mark.timeout(60)
@pytest.mark.parametrize("dag_id", sorted(DAGS))
def test_the_defaults_validate_and_keep_the_profile(dag_id, monkeypatch):
    params = load(dag_id, monkeypatch).params
    conf = params.validate()  # what a Trigger without touching a field submits
    assert conf["profile"] == "demo"
    assert params_to_overrides(conf) == []
    assert load_config("tiny", params_to_overrides(conf)) == load_config("tiny")
    mapped = {n for n in params if n in PARAM_KEYS}
    assert mapped | {"profile", "overrides"} == set(params), "a form field the mapping ignores"


@pytest.mark.timeout(60)
def test_one_changed_field_changes_only_that_setting(monkeypatch):
    params = load("maga_corpus_refresh", monkeypatch).params
    conf = {**params.validate(), "shard_limit": 2}
    assert params_to_overrides(conf) == ["refresh.shard_limit=2"]
    before, after = load_config("tiny").model_dump(), load_config("tiny", ["refresh.shard_limit=2"])
    assert after.refresh.shard_limit == 2
    changed = {k for k, v in after.model_dump()["refresh"].items() if before["refresh"][k] != v}
    assert changed == {"shard_limit"}


@pytest.mark.timeout(60)
def test_an_out_of_range_value_is_refused_by_the_form(monkeypatch):
    from airflow.sdk.exceptions import ParamValidationError

    params = load("maga_tool_models", monkeypatch).params
    with pytest.raises(ParamValidationError):
        params.get_param("keep_threshold").resolve(9)
