"""Run one gate of a run as a step: compute its verdict once, write it beside the run
(``gates/<gate>/gate.json`` and ``gate.md``), refresh the run summary, and fail with a
one-line reason when a blocking check fails. :func:`run_gate_step` is that sequence for
every run-level gate; :func:`evaluate_tool_models_gate` computes a tool-models gate's
verdict from its artifact."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import pandas as pd

from maga.jsonl import read_jsonl
from maga.log import get_logger
from maga.runs.context import RunContext
from maga.runs.summary import refresh_summary

if TYPE_CHECKING:
    from maga.gates.core import GateResult

log = get_logger("gates")


def _inputs(ctx: RunContext, gate: str) -> tuple[Any, str, dict[str, Any]]:
    cfg = ctx.config
    if gate == "sample":
        uri = ctx.uri("sample", "sample.jsonl")
        kw = {"min_chars": cfg.sampling.min_chars, "max_chars": cfg.sampling.max_chars}
        return pd.DataFrame(read_jsonl(ctx.storage, uri)), uri, kw
    if gate == "ga_labels":
        uri = ctx.uri("teacher_ga", "labels.jsonl")
        return (
            pd.DataFrame(read_jsonl(ctx.storage, uri)),
            uri,
            {"pairs_per_doc": cfg.generation.pairs_per_doc},
        )
    if gate == "sft":
        uri = ctx.uri("teacher_judge", "judged.jsonl")
        return (
            pd.DataFrame(read_jsonl(ctx.storage, uri)),
            uri,
            {"keep_threshold": cfg.judge.keep_threshold},
        )
    if gate == "parity":
        uri = ctx.uri("eval_slm", "table1.json")
        t = ctx.storage.read_json(uri)
        metrics = {
            "teacher_share_ge3": t["teacher"]["share_ge3"],
            "slm_share_ge3": t["slm"]["share_ge3"],
            "ga_slm_json_valid": t["ga_slm_json_valid"],
        }
        return metrics, uri, {}
    if gate == "quantized":
        uri = ctx.uri("eval_quantized", "comparison.json")
        c = ctx.storage.read_json(uri)
        keys = (
            "share_ge3_before",
            "share_ge3_after",
            "ga_json_valid_before",
            "ga_json_valid_after",
        )
        return {k: c[k] for k in keys}, uri, {}
    raise ValueError(f"unknown gate {gate!r}")


def evaluate_tool_models_gate(ctx: RunContext, gate: str) -> GateResult:
    """The verdict of tool-models gate ``gate`` on the run's artifact (nothing written)."""
    from maga.gates import tool_models

    data, uri, kwargs = _inputs(ctx, gate)
    return getattr(tool_models, f"gate_{gate}")(data, ctx.config.gates, uri, **kwargs)


def run_gate_step(ctx: RunContext, gate: str, compute: Callable[[], GateResult]) -> dict[str, Any]:
    """Validate once per run: the artifact and thresholds of a run never change, so a
    rerun (an Airflow retry, a resumed CLI run) reuses the stored verdict."""
    from maga.gates.core import GateResult, enforce, write_gate_result

    stored = ctx.uri("gates", gate, "gate.json")
    if ctx.storage.exists(stored):
        result = GateResult.from_dict(ctx.storage.read_json(stored))
        log.info("gate %s already evaluated for this run; reusing its verdict", gate)
    else:
        result = compute()
        write_gate_result(result, ctx.uri("gates", gate), storage=ctx.storage)
        refresh_summary(ctx)
    if result.passed:
        log.info("gate %s passed (%d checks)", gate, len(result.checks))
    else:
        log.error("gate %s FAILED: %s", gate, result.reason)
    enforce(result)
    return result.to_dict()


def run_tool_models_gate(ctx: RunContext, gate: str) -> dict[str, Any]:
    return run_gate_step(ctx, gate, lambda: evaluate_tool_models_gate(ctx, gate))
