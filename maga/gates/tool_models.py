"""The five gates of the tool-models DAG, one per artifact that feeds the next stage.

sample -> genre-audience labels -> judged SFT data -> SLM parity -> quantized SLM.
Each gate returns a :class:`GateResult`; the caller decides when to ``enforce`` it.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

import pandas as pd

from maga.config import GateThresholds
from maga.gates.core import Expect, GateResult, Metric, run_gate

SAMPLE_COLUMNS = ["id", "text", "lang", "n_chars", "length_bucket", "split"]
GA_COLUMNS = ["id", "valid", "reject_reason", "pairs"]
SFT_COLUMNS = ["id", "source_id", "genre", "audience", "text", "score", "kept", "split"]
SPLITS = ["train", "heldout"]

Records = pd.DataFrame | Iterable[Mapping[str, Any]]


def as_frame(data: Records, columns: list[str]) -> pd.DataFrame:
    """A dataframe from a dataframe or records; missing columns are added as nulls."""
    df = data.copy() if isinstance(data, pd.DataFrame) else pd.DataFrame.from_records(list(data))
    for col in columns:
        if col not in df.columns:
            df[col] = pd.Series([None] * len(df), index=df.index, dtype=object)
    return df.reset_index(drop=True)


def _share(part: int, whole: int) -> float | None:
    return round(part / whole, 9) if whole else None


def _col(name: str, column: str, kind: str, blocking: bool = True, **kwargs: Any) -> Expect:
    return Expect(name, f"expect_column_values_to_{kind}", {"column": column, **kwargs}, blocking)


def _rows(name: str, minimum: int) -> Expect:
    return Expect(name, "expect_table_row_count_to_be_between", {"min_value": minimum})


def gate_sample(
    df: Records,
    thresholds: GateThresholds,
    artifact_uri: str,
    *,
    min_chars: int | None = None,
    max_chars: int | None = None,
) -> GateResult:
    """The labeling sample: enough unique, non-empty documents in bounds, with a held-out part."""
    df = as_frame(df, SAMPLE_COLUMNS)
    n_chars = pd.to_numeric(df["n_chars"], errors="coerce")
    exps = [
        _rows("rows", thresholds.sample_min_docs),
        _col("id_not_null", "id", "not_be_null"),
        _col("id_unique", "id", "be_unique"),
        _col("text_not_null", "text", "not_be_null"),
        _col("n_chars_not_null", "n_chars", "not_be_null"),
        _col("n_chars_positive", "n_chars", "be_between", min_value=1),
        _col("split_values", "split", "be_in_set", value_set=SPLITS),
        _col("split_not_null", "split", "not_be_null"),
    ]
    if min_chars is not None or max_chars is not None:
        exps.append(
            _col(
                "n_chars_in_bounds",
                "n_chars",
                "be_between",
                min_value=min_chars,
                max_value=max_chars,
            )
        )
    texts = df["text"].dropna()
    metrics = {
        "heldout_rows": Metric(int((df["split"] == "heldout").sum()), 1, ">="),
        "duplicate_text_share": Metric.limit(
            _share(int(texts.duplicated().sum()), len(df)) if len(df) else 0.0,
            thresholds,
            "sample_max_duplicate_share",
            "<=",
        ),
    }
    frame = df[["id", "text", "split"]].assign(n_chars=n_chars)
    return run_gate("sample", artifact_uri, frame, exps, metrics)


def _pair_stats(pairs: Any) -> tuple[int, int, int]:
    """(number of pairs, pairs with an empty genre or audience, repeated pairs)."""
    items = [] if pairs is None or isinstance(pairs, float) else list(pairs)
    seen: set[tuple[str, str]] = set()
    empty = dupes = 0
    for pair in items:
        genre = str(pair.get("genre") or "").strip() if isinstance(pair, Mapping) else ""
        audience = str(pair.get("audience") or "").strip() if isinstance(pair, Mapping) else ""
        if not genre or not audience:
            empty += 1
        key = (genre.casefold(), audience.casefold())
        dupes += key in seen
        seen.add(key)
    return len(items), empty, dupes


def gate_ga_labels(
    df: Records, thresholds: GateThresholds, artifact_uri: str, *, pairs_per_doc: int = 5
) -> GateResult:
    """Genre-audience labels: enough valid documents, each with N distinct, filled pairs."""
    df = as_frame(df, GA_COLUMNS)
    valid = df["valid"].fillna(False).astype(bool)
    stats = [
        _pair_stats(p) if v else (None, None, None) for p, v in zip(df["pairs"], valid, strict=True)
    ]
    frame = pd.DataFrame(
        {
            "id": df["id"],
            # only valid rows get numbers; GE skips the nulls of invalid rows
            "n_pairs": pd.array([s[0] for s in stats], dtype="Int64"),
            "n_empty": pd.array([s[1] for s in stats], dtype="Int64"),
            "n_dupes": pd.array([s[2] for s in stats], dtype="Int64"),
        }
    )
    exps = [
        _col("id_unique", "id", "be_unique"),
        _col(
            "pairs_per_doc",
            "n_pairs",
            "be_between",
            min_value=pairs_per_doc,
            max_value=pairs_per_doc,
        ),
        _col("empty_genre_or_audience", "n_empty", "be_between", min_value=0, max_value=0),
        _col("duplicate_pairs", "n_dupes", "be_between", min_value=0, max_value=0),
    ]
    n_valid = int(valid.sum())
    metrics = {
        "valid_share": Metric.limit(
            _share(n_valid, len(df)), thresholds, "ga_min_valid_share", ">="
        ),
        "valid_docs": Metric.limit(n_valid, thresholds, "ga_min_docs", ">="),
    }
    return run_gate("ga_labels", artifact_uri, frame, exps, metrics)


def score_histogram(scores: pd.Series) -> dict[str, int]:
    """Counts per judge score 1..5 plus ``unparsed``; keys are strings so JSON round-trips."""
    hist = {str(s): int((scores == s).sum()) for s in range(1, 6)}
    hist["unparsed"] = int(scores.isna().sum())
    return hist


def gate_sft(
    df: Records,
    thresholds: GateThresholds,
    artifact_uri: str,
    *,
    keep_threshold: int | None = None,
) -> GateResult:
    """Judged reformulations: valid scores, enough kept rows, not too many low scores."""
    df = as_frame(df, SFT_COLUMNS)
    scores = pd.to_numeric(df["score"], errors="coerce")
    kept = df["kept"].fillna(False).astype(bool)
    frame = pd.DataFrame({"id": df["id"], "score": scores, "kept": kept})
    exps = [
        _col("score_range", "score", "be_between", min_value=1, max_value=5, mostly=1.0),
        Expect(
            "score_histogram",
            "expect_column_values_to_not_be_null",
            {"column": "score"},
            blocking=False,
            observed=score_histogram(scores),
            threshold={"unparsed": 0},
        ),
    ]
    if keep_threshold is not None:
        frame["kept_mismatch"] = kept != (scores >= keep_threshold).fillna(False)
        exps.append(_col("kept_matches_threshold", "kept_mismatch", "be_in_set", value_set=[False]))
    n_scored = int(scores.notna().sum())
    # The students train on kept rows of the train split only (held-out rows are for
    # the evaluations): counting every kept row passed a gate whose training then had
    # nothing to train on. Rows without a split (older runs) all count.
    trains = kept & (df["split"].isna() | (df["split"] == "train"))
    metrics = {
        "kept_train_rows": Metric.limit(int(trains.sum()), thresholds, "sft_min_rows", ">="),
        "kept_share": Metric.limit(
            _share(int(kept.sum()), len(df)), thresholds, "sft_min_kept_share", ">="
        ),
        "low_score_share": Metric.limit(
            _share(int((scores <= 2).sum()), n_scored), thresholds, "sft_max_low_share", "<="
        ),
    }
    return run_gate("sft", artifact_uri, frame, exps, metrics)


def _inputs(metrics: Mapping[str, Any], keys: list[str]) -> tuple[pd.DataFrame, list[Expect]]:
    """The input numbers as a one-row frame, each checked to be a share in 0..1 (a missing
    one fails the metric computed from it)."""
    frame = pd.DataFrame([{k: pd.to_numeric(metrics.get(k), errors="coerce") for k in keys}])
    exps = [
        Expect(f"{k}_is_share", "expect_column_values_to_be_between",
               {"column": k, "min_value": 0, "max_value": 1}, observed=metrics.get(k))
        for k in keys
    ]  # fmt: skip
    return frame, exps


def _diff(metrics: Mapping[str, Any], a: str, b: str) -> float | None:
    try:
        return round(float(metrics[a]) - float(metrics[b]), 9)
    except (KeyError, TypeError, ValueError):
        return None


def gate_parity(
    metrics: Mapping[str, Any], thresholds: GateThresholds, artifact_uri: str
) -> GateResult:
    """Tool SLM against the teacher (the paper's Table 1): small judged-share gap."""
    keys = ["teacher_share_ge3", "slm_share_ge3", "ga_slm_json_valid"]
    frame, exps = _inputs(metrics, keys)
    checks = {
        "share_ge3_gap": Metric.limit(
            _diff(metrics, "teacher_share_ge3", "slm_share_ge3"), thresholds, "parity_max_gap", "<="
        ),
        "ga_slm_json_valid": Metric.limit(
            metrics.get("ga_slm_json_valid"), thresholds, "ga_slm_min_json_valid", ">="
        ),
    }
    return run_gate("parity", artifact_uri, frame, exps, checks)


def gate_quantized(
    metrics: Mapping[str, Any], thresholds: GateThresholds, artifact_uri: str
) -> GateResult:
    """Quantized SLMs against the unquantized ones: small drop in judged share and JSON validity."""
    keys = ["share_ge3_before", "share_ge3_after", "ga_json_valid_before", "ga_json_valid_after"]
    frame, exps = _inputs(metrics, keys)
    checks = {
        "share_ge3_drop": Metric.limit(
            _diff(metrics, "share_ge3_before", "share_ge3_after"),
            thresholds,
            "quant_max_drop",
            "<=",
        ),
        "ga_json_valid_drop": Metric.limit(
            _diff(metrics, "ga_json_valid_before", "ga_json_valid_after"),
            thresholds,
            "quant_max_drop",
            "<=",
        ),
    }
    return run_gate("quantized", artifact_uri, frame, exps, checks)
