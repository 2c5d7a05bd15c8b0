"""Turning gate results into text: GE result fields read into plain values, the one-line
failure reason, the Markdown page, and the two files.

``gate.json`` (machine-readable) and ``gate.md`` (for people) are written beside the
validated artifact, through a storage object when one is given.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from maga.log import get_logger

if TYPE_CHECKING:
    import pandas as pd

    from maga.gates.core import CheckResult, GateResult

log = get_logger("gates")

_NEGATED = {">=": "<", "<=": ">", "==": "!="}
GATE_JSON = "gate.json"
GATE_MD = "gate.md"


class TextWriter(Protocol):
    def write_text(self, uri: str, text: str) -> Any: ...


def jsonable(value: Any) -> Any:
    """The value as plain JSON types (numpy scalars unwrapped, NaN -> None, tuples -> lists)."""
    return json.loads(json.dumps(value, default=_json_default, allow_nan=True), parse_constant=_nan)


def _nan(_: str) -> None:
    return None


def _json_default(value: Any) -> Any:
    if hasattr(value, "item"):  # numpy scalar
        return value.item()
    if hasattr(value, "tolist"):
        return value.tolist()
    if isinstance(value, set | frozenset):
        return sorted(value, key=str)
    return str(value)


def error_message(info: Any) -> str | None:
    """The first exception message in a GE result's exception_info, if any."""
    if not isinstance(info, Mapping):
        return None
    if info.get("raised_exception"):
        return str(info.get("exception_message") or "exception")
    for value in info.values():  # keyed by metric id when a metric failed
        msg = error_message(value)
        if msg:
            return msg
    return None


def examples(out: Mapping[str, Any], ids: pd.Series | None) -> str:
    """``, e.g. d3: 'dev', d7: 10``: failing rows by id (when there is one) and value."""
    values = jsonable(out.get("partial_unexpected_list") or [])[:3]
    index = out.get("partial_unexpected_index_list") or []
    if ids is not None and len(index) >= len(values):
        shown = [f"{ids.get(i)}: {v!r}" for i, v in zip(index, values, strict=False)]
    elif any(v is not None for v in values):
        shown = [repr(v) for v in values]
    else:
        return ""
    return ", e.g. " + ", ".join(shown)


def op_of(kwargs: Mapping[str, Any]) -> tuple[str, Any]:
    """The comparison a min_value/max_value pair means, and its threshold."""
    lo, hi = kwargs.get("min_value"), kwargs.get("max_value")
    if lo is not None and hi is not None:
        return ("==", lo) if lo == hi else ("between", [lo, hi])
    if lo is not None:
        return ">=", lo
    if hi is not None:
        return "<=", hi
    return "", None


def fmt(value: Any) -> str:
    """Short display of an observed value or threshold."""
    if isinstance(value, bool) or value is None:
        return str(value)
    if isinstance(value, float):
        return f"{value:.4g}"
    if isinstance(value, dict):
        return ", ".join(f"{k}: {fmt(v)}" for k, v in value.items())
    if isinstance(value, list):
        return "[" + ", ".join(fmt(v) for v in value) + "]"
    return str(value)


def describe_threshold(check: CheckResult) -> str:
    """What the check requires, e.g. ``>= 16``, ``1..5``, ``each in [train, heldout]``."""
    t = check.threshold
    if check.op == "between" and isinstance(t, list) and len(t) == 2:
        return f"{fmt(t[0])}..{fmt(t[1])}"
    if check.op:
        return f"{check.op} {fmt(t)}"
    if not isinstance(t, dict):
        return fmt(t)
    parts = []
    lo, hi = t.get("min_value"), t.get("max_value")
    if lo is not None and hi is not None:
        parts.append(f"each == {fmt(lo)}" if lo == hi else f"each {fmt(lo)}..{fmt(hi)}")
    elif lo is not None:
        parts.append(f"each >= {fmt(lo)}")
    elif hi is not None:
        parts.append(f"each <= {fmt(hi)}")
    if "value_set" in t:
        parts.append(f"each in {fmt(t['value_set'])}")
    rest = {k: v for k, v in t.items() if k not in {"min_value", "max_value", "value_set"}}
    if rest:
        parts.append(fmt(rest))
    if not parts:
        parts.append(_RULE_OF.get(check.expectation, "rule"))
    return ", ".join(parts)


_RULE_OF = {
    "expect_column_values_to_be_unique": "unique",
    "expect_column_values_to_not_be_null": "not null",
}


def _observed(check: CheckResult) -> str:
    obs = check.observed
    row_rule = check.expectation.startswith("expect_column_values_") and not check.op
    if row_rule and isinstance(obs, int) and not isinstance(obs, bool):
        return f"{obs} failing rows"
    return fmt(check.observed)


def failure_text(check: CheckResult) -> str:
    """One clause of a gate's reason, e.g. ``kept_share 0.12 < 0.3``."""
    if check.observed is None or (check.detail and not check.op):
        return f"{check.name}: {check.detail or 'failed'}"
    if check.op in _NEGATED:
        return f"{check.name} {fmt(check.observed)} {_NEGATED[check.op]} {fmt(check.threshold)}"
    if check.op == "between":
        return f"{check.name} {fmt(check.observed)} outside {describe_threshold(check)}"
    return f"{check.name}: {_observed(check)} (expected {describe_threshold(check)})"


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def status_of(check: CheckResult) -> str:
    """A check's result cell: an advisory check is never a pass (nor a failure)."""
    if check.advisory:
        return "advisory"
    return "pass" if check.passed else ("**FAIL**" if check.blocking else "warn")


def render_markdown(result: GateResult) -> str:
    """The page people read: verdict, reason, then every check with failures first."""
    verdict = "PASSED" if result.passed else "FAILED"
    lines = [
        f"# Gate `{result.gate}`: {verdict}",
        "",
        f"- artifact: `{result.artifact}`",
        f"- checked at: {result.created_at}",
    ]
    if result.reason:
        lines.append(f"- reason: {result.reason}")
    advisory = [c.name for c in result.checks if c.advisory]
    if advisory:
        lines.append(f"- advisory, not enforced by this profile: {', '.join(advisory)}")
    stats = result.ge_statistics or {}
    if stats:
        lines.append(
            f"- great-expectations: {stats.get('successful_expectations')} of "
            f"{stats.get('evaluated_expectations')} expectations met"
        )
    lines += ["", "| check | observed | threshold | result | detail |", "|---|---|---|---|---|"]

    def order(check: CheckResult) -> int:
        return 1 if check.advisory else (2 if check.passed else (0 if check.blocking else 1))

    for c in sorted(result.checks, key=order):
        status = status_of(c)
        cells = [c.name, _observed(c), describe_threshold(c), status, c.detail]
        lines.append("| " + " | ".join(_cell(x) for x in cells) + " |")
    return "\n".join(lines) + "\n"


def write_gate_result(
    result: GateResult, out_dir: str | Path, storage: TextWriter | None = None
) -> dict[str, str]:
    """Write gate.json and gate.md into ``out_dir`` (a local folder or an ``s3://`` prefix).

    ``storage`` is anything with ``write_text(uri, text)``, normally the run's
    :class:`maga.storage.Storage`; without one a default ``Storage()`` is used.
    """
    from maga.storage import Storage, dumps_json, join_uri

    writer = storage if storage is not None else Storage()
    texts = {
        GATE_JSON: dumps_json(result.to_dict()),
        GATE_MD: render_markdown(result),
    }
    written: dict[str, str] = {}
    for name, text in texts.items():
        uri = join_uri(str(out_dir), name)
        writer.write_text(uri, text)
        written[name] = uri
    log.info("gate %s: wrote %s", result.gate, ", ".join(written.values()))
    return written
