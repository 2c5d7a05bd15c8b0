"""Gate machinery: named checks validated by great-expectations, one verdict per artifact.

Row-level rules are GE expectations on the artifact's dataframe; aggregate numbers
("metrics") go into a one-row dataframe validated by GE too, so every check is a real GE
validation. great_expectations is imported on first use (it takes seconds to import).
"""

from __future__ import annotations

import math
import os
import threading
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from typing import Any

import pandas as pd

from maga.gates.report import error_message, examples, failure_text, fmt, jsonable, op_of
from maga.gates.report import write_gate_result as write_gate_result  # re-exported
from maga.log import get_logger

log = get_logger("gates")

OPS = (">=", "<=", "==")
_UNSET: Any = object()
_NOT_THRESHOLDS = {"column", "batch_id", "result_format", "catch_exceptions", "meta"}
_LOCK = threading.Lock()  # GE validates against the process-wide "current" context
_SHARED: dict[str, Any] = {}  # the context, its pandas source, one batch definition per asset


@dataclass
class CheckResult:
    name: str
    passed: bool
    observed: Any
    threshold: Any
    detail: str = ""
    blocking: bool = True
    op: str = ""  # ">=", "<=", "==" or "between" when observed is compared to threshold
    expectation: str = ""  # the GE expectation type that decided the check
    # Advisory: the profile's models are too small for this check; ``threshold`` is the
    # limit real models meet, ``passed`` says whether this value would meet it, and the
    # check never stops the gate nor shows as a pass.
    advisory: bool = False


@dataclass
class GateResult:
    gate: str
    artifact: str
    passed: bool
    checks: list[CheckResult]
    reason: str
    ge_success: bool
    ge_statistics: dict
    created_at: str

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> GateResult:
        fields = dict(data)
        fields["checks"] = [CheckResult(**c) for c in data.get("checks", [])]
        return cls(**fields)

    @property
    def warnings(self) -> list[CheckResult]:
        """Failed non-blocking checks (advisory ones included)."""
        return [c for c in self.checks if not c.passed and not c.blocking]

    @property
    def advisory(self) -> list[CheckResult]:
        return [c for c in self.checks if c.advisory]

    # The two calls a shard step makes on its gate (maga.runs.stage.StepGate), so runs/
    # enforces gates without importing this package.
    def write(self, out_dir: str, storage: Any = None) -> dict[str, str]:
        return write_gate_result(self, out_dir, storage=storage)

    def enforce(self) -> GateResult:
        return enforce(self)


class GateFailed(Exception):
    """A blocking check failed; ``str(exc)`` is the gate's one-line reason."""

    def __init__(self, result: GateResult):
        super().__init__(result.reason)
        self.result = result


@dataclass
class Expect:
    """One named GE expectation, declared without importing great_expectations."""

    name: str
    type: str  # snake-case GE name, e.g. "expect_column_values_to_be_unique"
    kwargs: dict[str, Any] = field(default_factory=dict)
    blocking: bool = True
    observed: Any = _UNSET  # replaces GE's observed value in the report when given
    threshold: Any = _UNSET  # replaces the threshold read from kwargs when given


@dataclass
class Metric:
    """An aggregate number computed in Python and its named threshold."""

    observed: float | int | bool | None
    threshold: float | int
    op: str
    blocking: bool = True
    detail: str = ""  # shown beside the verdict (why a check is advisory, say)
    advisory: bool = False  # see CheckResult.advisory; never blocking

    def __post_init__(self) -> None:
        if self.op not in OPS:
            raise ValueError(f"metric op must be one of {OPS}, got {self.op!r}")
        if self.advisory:
            self.blocking = False

    @classmethod
    def limit(cls, observed: Any, thresholds: Any, name: str, op: str) -> Metric:
        """A metric against the config threshold ``name`` (a ``maga.config._Thresholds``),
        advisory when the profile lists it in ``advisory``."""
        value, advisory = thresholds.limit(name)
        return cls(observed, value, op, advisory=advisory)


ExpectationLike = Any  # Expect, a gx Expectation, or a callable returning one (or a list)
MetricLike = Metric | tuple


def _gx() -> Any:
    os.environ.setdefault("GX_ANALYTICS_ENABLED", "false")  # read by GX versions that track
    import great_expectations as gx

    from maga.log import quiet_libraries

    quiet_libraries()  # some GE modules set their loggers to INFO on import
    return gx


def _batch_definition(asset: str) -> Any:
    """A whole-dataframe batch definition on the process's shared ephemeral context.

    Building a context and its assets costs more than validating a small frame (GE
    re-serialises its config on each change), so they are kept; the context is rebuilt
    when other code has made a different GE context current since.
    """
    gx = _gx()
    from great_expectations.data_context.data_context.context_factory import project_manager
    from great_expectations.data_context.types.base import ProgressBarsConfig

    ctx = _SHARED.get("ctx")
    if ctx is None or project_manager.get_current_project() is not ctx:
        ctx = gx.get_context(mode="ephemeral")
        ctx.variables.progress_bars = ProgressBarsConfig(globally=False, metric_calculations=False)
        _SHARED.clear()
        _SHARED.update(ctx=ctx, source=ctx.data_sources.add_pandas("maga_gates"))
    if asset not in _SHARED:
        frame_asset = _SHARED["source"].add_dataframe_asset(asset)
        _SHARED[asset] = frame_asset.add_batch_definition_whole_dataframe("all")
    return _SHARED[asset]


def _build(spec: Expect, gx: Any) -> Any:
    from great_expectations.expectations.metadata_types import FailureSeverity

    cls_name = "".join(part.capitalize() for part in spec.type.split("_"))
    cls = getattr(gx.expectations, cls_name, None)
    if cls is None:
        raise ValueError(f"check {spec.name!r}: unknown expectation {spec.type!r}")
    kwargs = {k: v for k, v in spec.kwargs.items() if v is not None}
    severity = FailureSeverity.CRITICAL if spec.blocking else FailureSeverity.WARNING
    return cls(**kwargs, meta={"check": spec.name}, severity=severity)


def _as_specs(item: Any, gx: Any) -> list[Expect]:
    """Expect specs from an Expect, a gx Expectation, or a callable returning them.

    A gx Expectation is named by ``meta["check"]`` when set, else by its type and column.
    """
    if isinstance(item, Expect):
        return [item]
    if callable(item) and not isinstance(item, gx.expectations.Expectation):
        made = item()
        return [
            x for one in (made if isinstance(made, list) else [made]) for x in _as_specs(one, gx)
        ]
    if not isinstance(item, gx.expectations.Expectation):
        raise TypeError(f"not an expectation: {item!r}")
    cfg = item.configuration
    auto = cfg.type + (f":{cfg.kwargs['column']}" if "column" in cfg.kwargs else "")
    name = (item.meta or {}).get("check") or auto
    return [Expect(name, cfg.type, dict(cfg.kwargs), str(item.severity.value) == "critical")]


def _validate(gx: Any, asset: str, df: pd.DataFrame, exps: list) -> Any:
    batch = _batch_definition(asset).get_batch(batch_parameters={"dataframe": df})
    suite = gx.ExpectationSuite(name=asset, expectations=exps)
    fmt = {"result_format": "SUMMARY", "partial_unexpected_count": 5}
    return batch.validate(suite, result_format=fmt)


def _check_from(spec: Expect, res: Any, ids: pd.Series | None = None) -> CheckResult:
    cfg = res.expectation_config
    kwargs = {k: v for k, v in cfg.kwargs.items() if k not in _NOT_THRESHOLDS}
    out = res.result or {}
    threshold: Any = kwargs
    op, detail, observed = "", "", None
    error = None if res.success else error_message(res.exception_info)
    if error:
        detail = f"error: {error.splitlines()[0][:200]}"
    elif "observed_value" in out:
        observed = out["observed_value"]
        op, bound = op_of(kwargs)
        threshold = bound if op else kwargs
    elif "unexpected_count" in out:
        observed = out["unexpected_count"]
        if observed:
            detail = f"{observed} of {out.get('element_count')} rows fail{examples(out, ids)}"
    if spec.observed is not _UNSET:
        observed = spec.observed
    if spec.threshold is not _UNSET:
        threshold = spec.threshold
    observed, threshold = jsonable([observed, threshold])
    return CheckResult(
        spec.name, bool(res.success), observed, threshold, detail, spec.blocking, op, cfg.type
    )


def _metric_exp(name: str, metric: Metric) -> Expect:
    lo = metric.threshold if metric.op in (">=", "==") else None
    hi = metric.threshold if metric.op in ("<=", "==") else None
    between = {"column": name, "min_value": lo, "max_value": hi}
    return Expect(name, "expect_column_values_to_be_between", between, metric.blocking)


def _metric_cell(metric: Metric) -> float:
    """The value GE validates; a missing one becomes an infinity beyond the bound, so it fails
    (GE skips nulls in column-value checks)."""
    value = _number(metric.observed)
    if value is None:
        return -math.inf if metric.op == ">=" else math.inf
    return value


def _metric_check(name: str, metric: Metric, res: Any) -> CheckResult:
    observed = jsonable(metric.observed)
    error = error_message(res.exception_info)
    detail = "no value" if _number(observed) is None else (f"error: {error[:200]}" if error else "")
    detail = "; ".join(x for x in (detail, metric.detail) if x)
    if metric.advisory:
        verdict = "pass" if res.success else "fail"
        detail = "; ".join(x for x in (f"advisory: {fmt(observed)}; the gpu profile's limit "
                                       f"{fmt(metric.threshold)} would {verdict}", detail) if x)  # fmt: skip
    between = "expect_column_values_to_be_between"
    return CheckResult(name, bool(res.success), observed, jsonable(metric.threshold), detail,
                       metric.blocking, metric.op, between, metric.advisory)  # fmt: skip


def _as_metric(value: MetricLike) -> Metric:
    return value if isinstance(value, Metric) else Metric(*value)


def _stats(results: list[Any]) -> dict:
    total = sum(r.statistics["evaluated_expectations"] for r in results)
    good = sum(r.statistics["successful_expectations"] for r in results)
    return {"evaluated_expectations": total, "successful_expectations": good,
            "unsuccessful_expectations": total - good,
            "success_percent": round(100.0 * good / total, 2) if total else None}  # fmt: skip


def run_gate(
    name: str,
    artifact_uri: str,
    df: pd.DataFrame | None,
    expectations: Iterable[ExpectationLike] = (),
    metrics: Mapping[str, MetricLike] | None = None,
) -> GateResult:
    """Validate ``df`` with ``expectations`` and ``metrics`` and return the verdict."""
    gx = _gx()
    specs = [spec for item in expectations for spec in _as_specs(item, gx)]
    mets = {k: _as_metric(v) for k, v in (metrics or {}).items()}
    names = [s.name for s in specs] + list(mets)
    dupes = sorted({n for n in names if names.count(n) > 1})
    if dupes:
        raise ValueError(f"gate {name!r}: check names must be unique, repeated: {dupes}")

    suites: list[Any] = []
    checks: list[CheckResult] = []
    with _LOCK:
        if specs:
            frame = df if df is not None else pd.DataFrame()
            res = _validate(gx, name, frame, [_build(s, gx) for s in specs])
            suites.append(res)
            by_name = {r.expectation_config.meta["check"]: r for r in res.results}
            ids = df["id"] if df is not None and "id" in df.columns else None
            checks += [_check_from(s, by_name[s.name], ids) for s in specs]
        if mets:
            row = pd.DataFrame([{k: _metric_cell(m) for k, m in mets.items()}])
            exps = [_build(_metric_exp(k, m), gx) for k, m in mets.items()]
            res = _validate(gx, f"{name}_metrics", row, exps)
            suites.append(res)
            by_name = {r.expectation_config.meta["check"]: r for r in res.results}
            checks += [_metric_check(k, m, by_name[k]) for k, m in mets.items()]

    failed = [c for c in checks if c.blocking and not c.passed]
    reason = f"{name}: " + "; ".join(failure_text(c) for c in failed) if failed else ""
    ge_success = all(bool(r.success) for r in suites)
    created = datetime.now(UTC).isoformat(timespec="seconds")
    result = GateResult(name, artifact_uri, not failed, checks, reason, ge_success, _stats(suites),
                        created)  # fmt: skip
    for c in checks:
        if c.advisory:  # a warning when the real-model limit would fail
            (log.info if c.passed else log.warning)("gate %s: %s %s", name, c.name, c.detail)
        elif not c.passed and not c.blocking:
            log.warning("gate %s: warning %s", name, failure_text(c))
    verdict = "PASSED" if result.passed else f"FAILED ({reason})"
    log.info("gate %s on %s: %s", name, artifact_uri, verdict)
    return result


def _number(value: Any) -> float | None:
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return None if math.isnan(number) else number


def enforce(result: GateResult) -> GateResult:
    """Raise :class:`GateFailed` unless the gate passed; return the result otherwise."""
    if not result.passed:
        raise GateFailed(result)
    return result
