"""The shape of both pipelines, as data: which steps exist, in what order, which run
folder each writes and how the report labels it. Everything that needs these facts
(the DAGs, the runners, the run summary, the report) reads them from here; nothing here
imports another part of ``maga``."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Step:
    """One task of the DAG. A stage step names its run-folder ``folder`` (its
    ``Stage.name``) and the ``label`` the report shows; a gate step names its gate."""

    task_id: str
    kind: str  # "stage" | "gate"
    upstream: tuple[str, ...]
    folder: str | None = None
    label: str | None = None
    gate: str | None = None


# --- maga_tool_models -------------------------------------------------------------------
STEPS: tuple[Step, ...] = (
    Step("sample_labeling_data", "stage", (), "sample", "sample labeling data"),
    Step("gate_sample", "gate", ("sample_labeling_data",), gate="sample"),
    Step("teacher_genre_audience", "stage", ("gate_sample",), "teacher_ga",
         "teacher genre-audience"),
    Step("gate_ga_labels", "gate", ("teacher_genre_audience",), gate="ga_labels"),
    Step("teacher_reformulate", "stage", ("gate_ga_labels",), "teacher_reformulate",
         "teacher rewrites"),
    Step("teacher_judge", "stage", ("teacher_reformulate",), "teacher_judge", "teacher judge"),
    Step("gate_sft_data", "gate", ("teacher_judge",), gate="sft"),
    Step("gate_collapse", "gate", ("teacher_judge",), gate="collapse"),
    Step("train_ga_slm", "stage", ("gate_sft_data", "gate_collapse"), "train_ga_slm",
         "train GA-SLM"),
    Step("train_reformulation_slm", "stage", ("gate_sft_data", "gate_collapse"),
         "train_reformulation_slm", "train reformulation SLM"),
    Step("evaluate_slm_vs_teacher", "stage", ("train_ga_slm", "train_reformulation_slm"),
         "eval_slm", "SLM vs teacher"),
    Step("gate_slm_parity", "gate", ("evaluate_slm_vs_teacher",), gate="parity"),
    Step("quantize_slms", "stage", ("gate_slm_parity",), "quantize", "quantize"),
    Step("evaluate_quantized", "stage", ("quantize_slms",), "eval_quantized",
         "evaluate quantized"),
    Step("gate_quantized", "gate", ("evaluate_quantized",), gate="quantized"),
    Step("register_tool_models", "stage", ("gate_quantized",), "register", "register"),
)  # fmt: skip
STEP_BY_ID = {s.task_id: s for s in STEPS}
# Derived from STEPS, for the summary and the report: stage folders and gates in
# pipeline order, and each folder's label.
STAGE_ORDER: tuple[str, ...] = tuple(s.folder for s in STEPS if s.folder)
GATE_ORDER: tuple[str, ...] = tuple(s.gate for s in STEPS if s.gate)
STAGE_LABELS: dict[str, str] = {s.folder: s.label or s.folder for s in STEPS if s.folder}


# --- maga_corpus_refresh ------------------------------------------------------------------
# Run-folder names of the refresh's steps in pipeline order (per-step totals over the
# run's shards go to ``<run>/<folder>/stats.json``).
# The shard steps, each a task of the mapped task group ``<name>_shard``, in order.
REFRESH_SHARD_STEPS = ("gate", "reformulate", "clean", "validate")
REFRESH_STAGE_ORDER = ("discover", "gate_input", "reformulate", "clean", "validate",
                       "publish", "export_mix", "audit")  # fmt: skip


# --- maga_mix_eval ------------------------------------------------------------------------
# prepare_run -> plan -> train (mapped over the plan's arms; folder train_<arm>) -> summarise
MIX_EVAL_STEPS: tuple[Step, ...] = (
    Step("plan", "stage", ("prepare_run",), "plan", "plan: recipes, held-out set"),
    Step("train", "stage", ("plan",), "train_", "train proxies (one folder per arm)"),
    Step("summarise", "stage", ("train",), "results", "results, report, registry"),
)  # fmt: skip
