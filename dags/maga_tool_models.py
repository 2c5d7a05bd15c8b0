"""maga_tool_models: build MAGA's tool models (the paper's Figure 2), every step a task.

sample -> gate -> teacher GA pairs -> gate -> teacher rewrites -> teacher judge
-> gates (SFT data, collapse early warning) -> train GA-SLM || train reformulation SLM -> SLM vs teacher (Table 1) -> gate
-> quantize -> evaluate quantized -> gate -> [review_tool_models: a person approves, when
review_registration asks] -> register (Asset event); a teardown task
writes the run's data-quality report (report.html beside summary.json) in any case.

Thin on purpose: all logic lives in ``maga`` and is imported inside task bodies, so
parsing this file costs nothing.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from airflow.sdk import Asset, Param, dag, task

from maga.deploy.routing import model_routing
from maga.pipelines.review_task import ToolModelsReviewOperator

# Tasks that load a model go to this Celery queue and pool: the profile's (MAGA_PROFILE;
# gpu -> queue and pool `gpu`), MAGA_MODEL_QUEUE / MAGA_MODEL_POOL override them. On a
# CPU each holds the pool slots (cores) its engines or training threads bind.
ROUTING = model_routing()
MODEL_QUEUE, MODEL_POOL, MODEL_SLOTS = ROUTING.queue, ROUTING.pool, ROUTING.slots
MODEL_TASKS = {
    "teacher_genre_audience",
    "teacher_reformulate",
    "teacher_judge",
    "train_ga_slm",
    "train_reformulation_slm",
    "evaluate_slm_vs_teacher",
    "quantize_slms",
    "evaluate_quantized",
}
TOOL_MODELS_ASSET = Asset(name="maga_tool_models", uri="maga://registry/tool-models")

# Mirrors maga.pipelines.tool_models.STEPS (kept literal so parsing imports nothing);
# tests/dags/test_dag_integrity.py checks that the two stay identical.
STEPS = (
    ("sample_labeling_data", ()),
    ("gate_sample", ("sample_labeling_data",)),
    ("teacher_genre_audience", ("gate_sample",)),
    ("gate_ga_labels", ("teacher_genre_audience",)),
    ("teacher_reformulate", ("gate_ga_labels",)),
    ("teacher_judge", ("teacher_reformulate",)),
    ("gate_sft_data", ("teacher_judge",)),
    ("gate_collapse", ("teacher_judge",)),
    ("train_ga_slm", ("gate_sft_data", "gate_collapse")),
    ("train_reformulation_slm", ("gate_sft_data", "gate_collapse")),
    ("evaluate_slm_vs_teacher", ("train_ga_slm", "train_reformulation_slm")),
    ("gate_slm_parity", ("evaluate_slm_vs_teacher",)),
    ("quantize_slms", ("gate_slm_parity",)),
    ("evaluate_quantized", ("quantize_slms",)),
    ("gate_quantized", ("evaluate_quantized",)),
    ("register_tool_models", ("gate_quantized",)),
)


@dag(
    dag_id="maga_tool_models",
    schedule=None,
    start_date=datetime(2026, 1, 1),
    catchup=False,
    max_active_runs=1,
    tags=["maga", "tool-models"],
    # Retries are for errors that can heal (S3, a teacher's 5xx, a lost worker); bad input
    # and failed gates fail at once (maga.pipelines.airflow_glue.guarded).
    default_args={"retries": 1, "retry_delay": timedelta(minutes=1)},
    params={
        "profile": Param(
            "demo",
            type="string",
            enum=["tiny", "demo", "gpu"],
            description="Configuration profile from configs/.",
        ),
        "corpus_uri": Param(
            None,
            type=["null", "string"],
            description="Source corpus: a folder or s3:// prefix of JSONL, JSONL.gz or "
            "Parquet files. Empty: the profile's corpus.",
        ),
        "id_field": Param(
            None, type=["null", "string"], description="Id field name. Empty: the profile's."
        ),
        "text_field": Param(
            None, type=["null", "string"], description="Text field name. Empty: the profile's."
        ),
        "sample_size": Param(
            None,
            type=["null", "integer"],
            minimum=1,
            description="Labeling sample size. Empty: the profile's.",
        ),
        "prompt_variant": Param(
            None,
            type=["null", "string"],
            enum=[None, "base", "strict", "relaxed"],
            values_display={"null": "(the profile's)"},
            description="Reformulation prompt variant (paper Table 3). Empty: the profile's.",
        ),
        "keep_threshold": Param(
            None,
            type=["null", "integer"],
            minimum=1,
            maximum=5,
            description="Judge score an SFT example needs (1-5). Empty: the profile's.",
        ),
        "review_registration": Param(
            None,
            type=["null", "string"],
            enum=[None, "never", "always"],
            values_display={"null": "(the profile's)"},
            description="always: a person approves the tool models (Table 1, quantization) "
            "before they are registered. Empty: the profile's (never).",
        ),
        "overrides": Param(
            None,
            type=["null", "array"],
            items={"type": "string"},
            description="Extra key=value config overrides, one per line (values read as "
            "YAML). Empty: none.",
        ),
    },
    doc_md=__doc__,
)
def maga_tool_models():
    @task(retries=0)
    def prepare_run(**context) -> str:
        from maga.pipelines.airflow_glue import prepare_run as prepare

        return prepare(context["params"], context["run_id"])

    def step_task(task_id: str):
        outlets = [TOOL_MODELS_ASSET] if task_id == "register_tool_models" else []

        route = {"queue": "default", "pool": "default_pool", "pool_slots": 1}
        if task_id in MODEL_TASKS:
            route = {"queue": MODEL_QUEUE, "pool": MODEL_POOL, "pool_slots": MODEL_SLOTS}

        @task(task_id=task_id, outlets=outlets, **route)
        def run_step(run_uri: str, **context) -> dict:
            from maga.pipelines.airflow_glue import run_step_task

            return run_step_task(run_uri, context, TOOL_MODELS_ASSET)

        return run_step

    @task(retries=0)
    def build_data_quality_report(run_uri: str) -> str | None:
        from maga.pipelines.tool_models import build_run_report

        return build_run_report(run_uri)

    run_uri = prepare_run()
    tasks = {tid: step_task(tid)(run_uri) for tid, _ in STEPS}
    for tid, upstream in STEPS:
        for up in upstream:
            tasks[up] >> tasks[tid]
    # a person approves before registering when review_registration asks (off by default)
    review = ToolModelsReviewOperator(task_id="review_tool_models", run_uri=run_uri)
    tasks["gate_quantized"] >> review >> tasks["register_tool_models"]
    # A teardown: the report is built also when a gate stops the run (the run still fails).
    tasks["register_tool_models"] >> build_data_quality_report(run_uri).as_teardown(setups=run_uri)


maga_tool_models()
