"""Data-quality gates: great-expectations suites built in code, named thresholds, a verdict.

Importing this package is cheap; great_expectations is loaded on the first gate run.
"""

from maga.gates.core import (
    CheckResult,
    Expect,
    GateFailed,
    GateResult,
    Metric,
    enforce,
    run_gate,
)
from maga.gates.report import render_markdown, write_gate_result

__all__ = [
    "CheckResult",
    "Expect",
    "GateFailed",
    "GateResult",
    "Metric",
    "enforce",
    "render_markdown",
    "run_gate",
    "write_gate_result",
]
