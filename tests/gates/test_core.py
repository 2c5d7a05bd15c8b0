"""The gate machinery against real great-expectations: verdicts, reasons, files."""

from __future__ import annotations

import json
import subprocess
import sys
import time

import pandas as pd
import pytest

from maga.gates import (
    Expect,
    GateFailed,
    GateResult,
    Metric,
    enforce,
    render_markdown,
    run_gate,
    write_gate_result,
)


def frame() -> pd.DataFrame:
    return pd.DataFrame({"id": ["a", "b", "c", "d"], "n": [1, 2, 3, 4]})


def test_passing_gate_has_every_check_and_ge_statistics() -> None:
    exps = [
        Expect("rows", "expect_table_row_count_to_be_between", {"min_value": 2}),
        Expect("id_unique", "expect_column_values_to_be_unique", {"column": "id"}),
    ]
    result = run_gate("demo", "var/demo.jsonl", frame(), exps, {"share": (0.5, 0.3, ">=")})
    assert result.passed and result.ge_success and result.reason == ""
    assert [c.name for c in result.checks] == ["rows", "id_unique", "share"]
    rows = result.checks[0]
    assert (rows.observed, rows.threshold, rows.op) == (4, 2, ">=")
    assert result.ge_statistics["evaluated_expectations"] == 3
    assert enforce(result) is result


def test_failures_block_with_a_one_line_reason() -> None:
    df = pd.DataFrame({"id": ["a", "a", "b"], "n": [1, 2, 3]})
    exps = [Expect("id_unique", "expect_column_values_to_be_unique", {"column": "id"})]
    metrics = {"kept_share": (0.12, 0.3, ">="), "min_rows": Metric(4, 20, ">=")}
    result = run_gate("sft", "x", df, exps, metrics)
    assert not result.passed and not result.ge_success
    assert result.reason.startswith("sft: id_unique: 2 of 3 rows fail")
    assert "kept_share 0.12 < 0.3" in result.reason and "min_rows 4 < 20" in result.reason
    assert "\n" not in result.reason
    with pytest.raises(GateFailed) as info:
        enforce(result)
    assert str(info.value) == result.reason and info.value.result is result


@pytest.mark.parametrize(
    ("metric", "text"),
    [((0.2, 0.1, "<="), "m 0.2 > 0.1"), ((4, 5, "=="), "m 4 != 5"), ((None, 1, ">="), "m: no value"),
     ((float("nan"), 1, ">="), "m: no value")],
)  # fmt: skip
def test_metric_ops_and_missing_values(metric: tuple, text: str) -> None:
    result = run_gate("g", "x", None, (), {"m": metric})
    assert not result.passed and result.reason == f"g: {text}"


def test_equal_to_threshold_passes_and_bad_op_is_rejected() -> None:
    assert run_gate("g", "x", None, (), {"a": (5, 5, "=="), "b": (0.1, 0.1, "<=")}).passed
    with pytest.raises(ValueError, match="op"):
        Metric(1, 1, ">")


def test_non_blocking_checks_warn_but_never_fail() -> None:
    exps = [Expect("n_small", "expect_column_values_to_be_between",
                   {"column": "n", "max_value": 2}, blocking=False)]  # fmt: skip
    result = run_gate("g", "x", frame(), exps, {"m": Metric(0.9, 0.1, "<=", blocking=False)})
    assert result.passed and result.reason == "" and not result.ge_success
    assert {c.name for c in result.warnings} == {"n_small", "m"}
    enforce(result)


def test_gx_objects_and_factories_are_accepted() -> None:
    import great_expectations as gx

    plain = gx.expectations.ExpectColumnValuesToNotBeNull(column="id")
    named = gx.expectations.ExpectColumnValuesToBeInSet(column="id", value_set=["a"],
                                                        meta={"check": "only_a"})  # fmt: skip
    factory = lambda: [Expect("rows", "expect_table_row_count_to_be_between", {"max_value": 9})]  # noqa: E731
    result = run_gate("g", "x", frame(), [plain, named, factory])
    assert [c.name for c in result.checks] == ["expect_column_values_to_not_be_null:id",
                                               "only_a", "rows"]  # fmt: skip
    assert "only_a: 3 of 4 rows fail" in result.reason
    assert result.checks[1].threshold == {"value_set": ["a"]}


def test_missing_column_fails_the_check_without_crashing() -> None:
    exps = [Expect("zz", "expect_column_values_to_not_be_null", {"column": "zz"})]
    result = run_gate("g", "x", frame(), exps)
    assert not result.passed and result.checks[0].detail.startswith("error:")


def test_duplicate_check_names_are_rejected() -> None:
    exps = [Expect("m", "expect_table_row_count_to_be_between", {"min_value": 1})]
    with pytest.raises(ValueError, match="unique"):
        run_gate("g", "x", frame(), exps, {"m": (1, 1, ">=")})


def _mixed() -> GateResult:
    exps = [
        Expect("ok", "expect_column_values_to_not_be_null", {"column": "id"}),
        Expect("soft", "expect_column_values_to_be_between", {"column": "n", "max_value": 1},
               blocking=False, observed={"1": 1, "unparsed": 0}),
        Expect("hard", "expect_column_values_to_be_in_set", {"column": "id", "value_set": ["a"]}),
    ]  # fmt: skip
    return run_gate("mixed", "var/runs/x/mixed.jsonl", frame(), exps, {"share": (0.9, 0.5, "<=")})


def test_gate_files_round_trip_and_list_failures_first(tmp_path) -> None:
    result = _mixed()
    written = write_gate_result(result, tmp_path / "gates" / "mixed")
    data = json.loads((tmp_path / "gates" / "mixed" / "gate.json").read_text())
    assert GateResult.from_dict(data) == result
    assert set(written) == {"gate.json", "gate.md"}
    md = (tmp_path / "gates" / "mixed" / "gate.md").read_text()
    assert md.startswith("# Gate `mixed`: FAILED") and result.reason in md
    rows = [line for line in md.splitlines() if line.startswith("| ") and "---" not in line][1:]
    results = [row.split(" | ")[3] for row in rows]
    assert results == ["**FAIL**", "**FAIL**", "warn", "pass"]
    assert rows[0].startswith("| hard |") and rows[2].startswith("| soft | 1: 1, unparsed: 0")


def test_write_through_a_given_storage() -> None:
    class Store:
        def __init__(self) -> None:
            self.files: dict[str, str] = {}

        def write_text(self, uri: str, text: str) -> None:
            self.files[uri] = text

    store, result = Store(), _mixed()
    write_gate_result(result, "s3://bucket/runs/x/gates/mixed/", storage=store)
    assert sorted(store.files) == ["s3://bucket/runs/x/gates/mixed/gate.json",
                                   "s3://bucket/runs/x/gates/mixed/gate.md"]  # fmt: skip
    assert store.files["s3://bucket/runs/x/gates/mixed/gate.md"] == render_markdown(result)


def test_gate_runs_are_quiet_and_fast(capfd) -> None:
    run_gate("warm", "x", frame(), [], {"m": (1, 1, ">=")})
    capfd.readouterr()
    start = time.perf_counter()
    _mixed()
    elapsed = time.perf_counter() - start
    out, err = capfd.readouterr()
    assert "Calculating Metrics" not in out + err
    assert elapsed < 5, f"one gate took {elapsed:.2f}s"


def test_importing_gates_does_not_import_great_expectations() -> None:
    code = "import sys, maga.gates.tool_models; print('great_expectations' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
