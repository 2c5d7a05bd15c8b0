import pytest
from airflow.sdk.exceptions import AirflowFailException, AirflowSkipException

from maga.config import ConfigError, load_config
from maga.corpus.reader import CorpusError
from maga.pipelines.airflow_glue import guarded, params_to_overrides
from maga.runs.context import RunContext
from maga.runs.failures import read_failures


def test_empty_form_fields_keep_the_profile():
    assert (
        params_to_overrides(
            {
                "profile": "tiny",
                "corpus_uri": "",
                "sample_size": 0,
                "prompt_variant": "",
                "overrides": [],
            }
        )
        == []
    )


def test_form_fields_become_typed_overrides():
    params = {
        "corpus_uri": "s3://b/corpus/",
        "id_field": "doc_id",
        "text_field": "body",
        "sample_size": 24,
        "prompt_variant": "strict",
        "keep_threshold": 4,
        "overrides": ["gates.sft_min_rows=5"],
    }
    cfg = load_config("tiny", params_to_overrides(params))
    assert cfg.corpus.uri == "s3://b/corpus/"
    assert (cfg.corpus.id_field, cfg.corpus.text_field) == ("doc_id", "body")
    assert cfg.sampling.size == 24 and cfg.generation.prompt_variant == "strict"
    assert cfg.judge.keep_threshold == 4 and cfg.gates.sft_min_rows == 5


def test_step_folders_are_the_stages_own_names():
    """The pipeline definition is the one place that names a stage's folder: the
    summary's order and the report's labels are derived from it, so it must agree with
    each Stage object's ``name`` (the folder run_stage writes)."""
    from maga.pipelines.tool_models import _stages
    from maga.steps import GATE_ORDER, STAGE_ORDER, STEPS

    stages = _stages()
    for step in STEPS:
        if step.kind == "stage":
            assert step.folder == stages[step.task_id]().name, step.task_id
        else:
            assert step.folder is None and step.gate, step.task_id
    assert len(set(STAGE_ORDER)) == len(STAGE_ORDER) == len(stages)
    assert GATE_ORDER == ("sample", "ga_labels", "sft", "collapse", "parity", "quantized")


def test_refresh_stage_folders_match_the_steps():
    from maga.refresh.discover import DiscoverStage
    from maga.refresh.export_mix import ExportMixStage
    from maga.refresh.publish import PublishStage
    from maga.steps import REFRESH_STAGE_ORDER as STAGE_ORDER

    assert STAGE_ORDER[0] == DiscoverStage.name
    assert STAGE_ORDER[-3:] == (PublishStage.name, ExportMixStage.name, "audit")


# --- task outcomes: no retry for what cannot heal, a reason the report can show -------


class TI:
    def __init__(self, task_id: str, try_number: int = 1, max_tries: int = 1) -> None:
        self.dag_id, self.task_id, self.map_index = "maga_tool_models", task_id, -1
        self.try_number, self.max_tries = try_number, max_tries


class DagRun:
    def __init__(self, run_type: str) -> None:
        self.run_type = run_type


def context(task_id: str, run_type: str = "manual", **ti) -> dict:
    return {"ti": TI(task_id, **ti), "run_id": "r1", "dag_run": DagRun(run_type)}


@pytest.fixture
def run(tmp_path):
    return RunContext.create(load_config("tiny", [f"storage.root={tmp_path}"]),
                             "maga_tool_models", "r1")  # fmt: skip


def _raise(exc):
    def body():
        raise exc

    return body


@pytest.mark.timeout(60)
def test_an_error_that_cannot_heal_fails_at_once_with_one_line(run, caplog):
    exc = CorpusError("corpus folder not found: /nonexistent/corpus")
    with pytest.raises(AirflowFailException) as info:
        guarded(_raise(exc), run.run_uri, context("sample_labeling_data"))
    assert str(info.value) == "CorpusError: corpus folder not found: /nonexistent/corpus"
    assert "failed, not retried" in caplog.text and "/nonexistent/corpus" in caplog.text
    [record] = read_failures(run.storage, run.run_uri)
    assert record["task_id"] == "sample_labeling_data" and record["final"] is True
    summary = run.storage.read_json(run.uri("summary.json"))
    assert summary["failures"][0]["reason"] == str(info.value)


@pytest.mark.timeout(60)
def test_a_multi_line_config_error_becomes_one_line(run):
    exc = ConfigError("invalid configuration:\n  - sampling.size: must be > 0\n  - x: bad")
    with pytest.raises(AirflowFailException) as info:
        guarded(_raise(exc), run.run_uri, context("prepare_run"))
    assert "\n" not in str(info.value) and "sampling.size" in str(info.value)


@pytest.mark.timeout(60)
def test_an_error_that_can_heal_keeps_its_retry(run):
    with pytest.raises(TimeoutError):
        guarded(_raise(TimeoutError("S3 read timed out")), run.run_uri,
                context("teacher_judge", try_number=1, max_tries=1))  # fmt: skip
    [record] = read_failures(run.storage, run.run_uri)
    assert record["final"] is False and record["reason"] == "TimeoutError: S3 read timed out"
    with pytest.raises(TimeoutError):  # the last try: now final
        guarded(_raise(TimeoutError("again")), run.run_uri,
                context("teacher_judge", try_number=2, max_tries=1))  # fmt: skip
    assert read_failures(run.storage, run.run_uri)[0]["final"] is True
    assert guarded(lambda: {"ok": 1}, run.run_uri, context("teacher_judge")) == {"ok": 1}
    assert read_failures(run.storage, run.run_uri) == []  # a later success clears it
    assert run.storage.read_json(run.uri("summary.json"))["failures"] == []


@pytest.mark.timeout(60)
def test_a_scheduled_run_without_a_usable_source_is_skipped_a_manual_one_fails(run):
    exc = CorpusError("refresh source 'builtin://wiki-summaries' is a built-in corpus")
    for run_type in ("scheduled", "asset_triggered"):
        with pytest.raises(AirflowSkipException, match="run skipped: CorpusError: refresh"):
            guarded(_raise(exc), run.run_uri, context("discover", run_type),
                    skip_when_scheduled=(CorpusError,))  # fmt: skip
    assert read_failures(run.storage, run.run_uri) == []  # a skip is not a failure
    with pytest.raises(AirflowFailException):
        guarded(_raise(exc), run.run_uri, context("discover", "manual"),
                skip_when_scheduled=(CorpusError,))  # fmt: skip


@pytest.mark.timeout(60)
def test_outside_airflow_errors_pass_through_unchanged():
    with pytest.raises(CorpusError):
        guarded(_raise(CorpusError("x")))
