from maga.config import load_config
from maga.pipelines.airflow_glue import params_to_overrides


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
