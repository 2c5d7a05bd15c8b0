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
