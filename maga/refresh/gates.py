"""The corpus-refresh gates, built like ``maga.gates.tool_models``: great-expectations
suites on row frames plus named aggregate metrics, one verdict per artifact.

* ``shard_input.<key>``: the shard was readable and its share of bad records is small.
* ``shard_output.<key>``: every output row is well-formed (GE row suite), enough
  rewrites survived cleaning, the judged sample does not drift toward "Relaxed"
  (share of scores <= 2), the shard expanded enough, and the shares of rewrites the
  hygiene steps dropped or changed stay under the profile's ``refresh.hygiene`` limits.
* ``refresh_aggregate``: the same numbers over every shard of the run.
"""

from __future__ import annotations

from typing import Any

import pandas as pd

from maga.config import RefreshConfig
from maga.gates.core import Expect, GateResult, Metric, run_gate
from maga.hygiene.shard import gate_metrics as hygiene_metrics

COMMON_COLUMNS = ["source_id", "output_mode", "prompt_variant", "tool_model_version", "text"]


def output_columns(mode: str) -> list[str]:
    """Columns every published row of ``mode`` must fill (its provenance included)."""
    extra = ["genre", "audience"] if mode == "documents" else ["n_generations"]
    return COMMON_COLUMNS + extra


def _share(part: float, whole: float) -> float | None:
    return round(part / whole, 6) if whole else None


def bad_record_share(stats: dict[str, Any], cfg: RefreshConfig) -> Metric:
    """The share of bad records; it stops a shard only from ``bad_record_min_count`` bad
    records on, so one bad record in a five-record shard is a warning, not 20 %."""
    bad, least = int(stats.get("quarantined", 0)), cfg.bad_record_min_count
    share = _share(bad, int(stats.get("records", 0))) or 0.0
    applies = bad >= least
    detail = (
        f"{bad} bad record(s); the share applies from {least}"
        if applies
        else f"advisory: {bad} bad record(s), below the {least} the share applies from"
    )
    return Metric(share, cfg.bad_record_max_share, "<=", blocking=applies, detail=detail)


def gate_input(stats: dict[str, Any], cfg: RefreshConfig, key: str, uri: str) -> GateResult:
    metrics = {
        "schema_readable": Metric(0 if stats.get("schema_error") else 1, 1, ">="),
        "bad_record_share": bad_record_share(stats, cfg),
        "accepted_records": Metric(int(stats.get("accepted", 0)), 1, ">="),
    }  # fmt: skip
    return run_gate(f"shard_input.{key}", uri, None, [], metrics)


def quality_metrics(totals: dict[str, Any], cfg: RefreshConfig) -> dict[str, Metric]:
    """kept share, judged low-score share, unparsed judge share, expansion ratio.

    The expansion ratio divides the kept output by the text actually reformulated (what
    truncation or splitting left of the sources), so one long document cut to
    ``generation.max_input_chars`` does not pass for a shard that failed to expand; the
    ratio to the whole sources is shown beside it, not gated."""
    g = cfg.gates
    prompted = totals.get("reformulated_chars") or totals["input_chars"]
    metrics = {
        "kept_share": Metric.limit(_share(totals["kept"], totals["generated"]), g,
                                   "min_kept_share", ">="),
        "expansion_ratio": Metric.limit(_share(totals["output_chars"], prompted), g,
                                        "min_expansion_ratio", ">="),
        "source_expansion_ratio": Metric(_share(totals["output_chars"], totals["input_chars"]),
                                         0, ">=", blocking=False),
    }  # fmt: skip
    if totals.get("judge_requested"):
        scored = totals["judged"]
        metrics["low_score_share"] = Metric.limit(
            _share(totals["low_scores"], scored), g, "max_low_score_share", "<="
        )
        metrics["unparsed_judge_share"] = Metric.limit(
            _share(totals["judge_requested"] - scored, totals["judge_requested"]),
            g,
            "max_unparsed_judge_share",
            "<=",
        )
    metrics.update(hygiene_metrics(totals, cfg.hygiene))
    return metrics


def gate_output(
    frame: pd.DataFrame,
    totals: dict[str, Any],
    cfg: RefreshConfig,
    key: str,
    uri: str,
    *,
    prompt_variant: str,
    tool_model_version: int,
    min_chars: int,
    output_mode: str = "documents",
) -> GateResult:
    """``frame``: up to ``validate_max_rows`` output rows (id, the mode's columns, n_chars)."""
    col = "expect_column_values_to_"
    exps: list[Expect] = [
        Expect(f"{c}_not_null", f"{col}not_be_null", {"column": c})
        for c in output_columns(output_mode)
    ]
    exps.append(Expect("output_mode", f"{col}be_in_set",
                       {"column": "output_mode", "value_set": [output_mode]}))  # fmt: skip
    if output_mode != "documents":
        exps.append(Expect("megadoc_has_generations", f"{col}be_between",
                           {"column": "n_generations", "min_value": 1}))  # fmt: skip
    exps += [
        Expect("id_unique", f"{col}be_unique", {"column": "id"}),
        Expect("prompt_variant", f"{col}be_in_set",
               {"column": "prompt_variant", "value_set": [prompt_variant]}),
        Expect("tool_model_version", f"{col}be_in_set",
               {"column": "tool_model_version", "value_set": [tool_model_version]}),
        Expect("text_min_chars", f"{col}be_between", {"column": "n_chars", "min_value": min_chars}),
        Expect("rows", "expect_table_row_count_to_be_between", {"min_value": 1}),
    ]  # fmt: skip
    metrics = quality_metrics(totals, cfg)
    metrics["duplicate_ids"] = Metric(int(totals.get("duplicate_ids", 0)), 0, "<=")
    return run_gate(f"shard_output.{key}", uri, frame, exps, metrics)


def gate_aggregate(totals: dict[str, Any], cfg: RefreshConfig, uri: str) -> GateResult:
    metrics = quality_metrics(totals, cfg)
    metrics["published_rows"] = Metric(int(totals["kept"]), 1, ">=")
    return run_gate("refresh_aggregate", uri, None, [], metrics)
