"""Stages that evaluate the tool models: after distillation (Table 1) and after
quantization (quality and speed before vs after)."""

from __future__ import annotations

from maga.evaluation.students import evaluate_students
from maga.jsonl import write_jsonl
from maga.log import get_logger
from maga.models.materialize import model_dir
from maga.quantize.serve import choose_served
from maga.runs.context import RunContext
from maga.runs.stage import StageStats

log = get_logger("evaluation")


class EvalSLMStage:
    name = "eval_slm"
    reads = (
        "teacher_judge/judged.jsonl",
        "train_ga_slm/_SUCCESS",
        "train_reformulation_slm/_SUCCESS",
    )
    writes = ("eval_slm/table1.json",)

    def run(self, ctx: RunContext) -> StageStats:
        stats = StageStats()
        ga = model_dir(ctx, "train_ga_slm", "model")
        rf = model_dir(ctx, "train_reformulation_slm", "model")
        table, ga_rows, slm_rows = evaluate_students(ctx, ga, rf, "", stats)
        stats.extra["table1"] = table
        _write_outputs(ctx, self.name, stats, ga_rows, slm_rows, "table1", table)
        return stats


class EvalQuantizedStage:
    name = "eval_quantized"
    reads = ("eval_slm/table1.json", "quantize/_SUCCESS")
    writes = ("eval_quantized/comparison.json",)

    def run(self, ctx: RunContext) -> StageStats:
        stats = StageStats()
        before = ctx.storage.read_json(ctx.uri("eval_slm", "table1.json"))
        quant = ctx.storage.read_json(ctx.uri("quantize", "stats.json"))
        ga = model_dir(ctx, "quantize", "ga_slm")
        rf = model_dir(ctx, "quantize", "reformulation_slm")
        after, ga_rows, slm_rows = evaluate_students(ctx, ga, rf, "_quantized", stats)
        comparison = {
            "scheme": quant.get("scheme"),
            "share_ge3_before": before["slm"]["share_ge3"],
            "share_ge3_after": after["slm"]["share_ge3"],
            "ga_json_valid_before": before["ga_slm_json_valid"],
            "ga_json_valid_after": after["ga_slm_json_valid"],
            "score_counts_before": before["slm"]["score_counts"],
            "score_counts_after": after["slm"]["score_counts"],
            "tokens_per_s_before": before["tokens_per_s"],
            "tokens_per_s_after": after["tokens_per_s"],
            "size_bytes": quant.get("models", {}),
        }
        q = ctx.config.quantize
        comparison["served"] = choose_served(q.serve, q.serve_margin, before["tokens_per_s"],
                                             after["tokens_per_s"])  # fmt: skip
        for role, pick in comparison["served"].items():
            log.info("%s: serving the %s model (%s)", role, pick["model"], pick["why"])
        stats.extra["comparison"] = comparison
        _write_outputs(ctx, self.name, stats, ga_rows, slm_rows, "comparison", comparison)
        return stats


def _write_outputs(
    ctx: RunContext,
    stage: str,
    stats: StageStats,
    ga_rows: list[dict],
    slm_rows: list[dict],
    name: str,
    figures: dict,
) -> None:
    """The judged student outputs as JSONL plus the stage's figures as JSON."""
    for key, rows in (("ga_slm_labels", ga_rows), ("slm_rewrites", slm_rows)):
        stats.artifacts[key] = ctx.uri(stage, f"{key}.jsonl")
        write_jsonl(ctx.storage, stats.artifacts[key], rows)
    stats.artifacts[name] = ctx.uri(stage, f"{name}.json")
    ctx.storage.write_json(stats.artifacts[name], figures)
