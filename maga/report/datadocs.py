"""great-expectations Data Docs for a run, written to ``<run>/data_docs/``.

The gates validate with an ephemeral GE context and keep only ``gate.json``. To get
real Data Docs, each gate is *replayed*: for the tool-models gates the same gate
function runs again on the same artifact with the run's stored configuration, and the
GE validation results it produces are captured, stored in a throw-away file-backed
context and rendered with GE's own site builder. A replay whose verdict differs from
``gate.json`` is flagged on the page. A gate that cannot be replayed (unknown to this
module, or its artifact is gone) is rebuilt from ``gate.json``: numeric checks are
validated again by GE from their recorded observed values; row-level checks show the
recorded verdict. The pages are stripped of GE's CDN scripts, styles and tracking
image so they open offline and fetch nothing.
"""

from __future__ import annotations

import re
import shutil
import tempfile
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from datetime import UTC, datetime
from html import escape
from pathlib import Path
from typing import Any

from maga.gates import core
from maga.gates.core import Expect, GateResult, Metric
from maga.log import get_logger
from maga.storage import Storage, join_uri, local_path

log = get_logger("report.datadocs")

SITE = "maga"
TOOL_MODEL_GATES = ("sample", "ga_labels", "sft", "parity", "quantized")
MAX_GATES = 40  # a corpus refresh has two gates per shard: failed ones are rendered first
_OFFLINE_CSS = """<style>body{font-family:system-ui,sans-serif;margin:1.5rem;color:#222}
table{border-collapse:collapse;margin:.5rem 0}td,th{border:1px solid #ccc;padding:.3rem .5rem;
vertical-align:top}.text-success{color:#1c7c3c}.text-danger{color:#b3261e}
.text-warning{color:#9a6700}.badge{padding:0 .3rem;border-radius:3px;background:#eee}
.fa-check-circle::before{content:"\\2714  pass"}.fa-times::before{content:"\\2718  fail"}
.fa-exclamation-triangle::before{content:"\\26A0  warn"}
.fas{font-style:normal;font-weight:600;white-space:nowrap}.cooltip .top{display:none}</style>"""
_KEEP_IMAGES = ("favicon.ico", "short-logo-vector.svg", "logo-long-vector.svg")
_INDEX = """<!DOCTYPE html><html lang="en"><head><meta charset="utf-8">
<title>Data Docs: @TITLE@</title>@CSS@</head><body>
<h1>great-expectations Data Docs</h1><p>Run <b>@TITLE@</b>: validation results of every gate,
rendered by great-expectations @VERSION@. Each gate validates row-level rules (suite named
after the gate) and aggregate metrics (suite <code>&lt;gate&gt;_metrics</code>).</p>
<table><tr><th>gate</th><th>suite</th><th>status</th><th>expectations met</th><th>how built</th>
<th>pages</th></tr>@ROWS@</table></body></html>"""


@dataclass
class DataDocs:
    """Where the Data Docs went and how each gate got there."""

    index_uri: str | None
    modes: dict[str, str] = field(default_factory=dict)  # gate -> "replayed" | "from gate.json"
    error: str = ""


@contextmanager
def capture_validations() -> Iterator[list[tuple[str, Any]]]:
    """Collect (suite name, GE validation result) of gates run in this thread."""
    captured: list[tuple[str, Any]] = []
    original = core._validate
    me = threading.get_ident()

    def spy(gx: Any, asset: str, df: Any, exps: list) -> Any:
        result = original(gx, asset, df, exps)
        if threading.get_ident() == me:
            captured.append((asset, result))
        return result

    core._validate = spy
    try:
        yield captured
    finally:
        core._validate = original


@dataclass
class _RunAt:
    """What the gate runner reads from a run context, pinned to ``run_uri`` (the stored
    config's storage root may point elsewhere when a run folder was copied or moved)."""

    run_uri: str
    config: Any
    storage: Storage

    def uri(self, *parts: str) -> str:
        return join_uri(self.run_uri, *parts)


def _replay_tool_models(run_uri: str, storage: Storage) -> Callable[[str], GateResult]:
    """A function that re-runs one tool-models gate on the run's artifact."""
    from maga.config import config_from_json
    from maga.gates.runner import evaluate_tool_models_gate

    config = config_from_json(storage.read_text(join_uri(run_uri, "config.json")))
    ctx = _RunAt(run_uri, config, storage)

    def replay(gate: str) -> GateResult:
        return evaluate_tool_models_gate(ctx, gate)  # type: ignore[arg-type]

    return replay


def _from_record(record: dict[str, Any]) -> GateResult:
    """Validate again what ``gate.json`` recorded: numeric checks from their observed
    values, others as their recorded verdict."""
    metrics: dict[str, Metric] = {}
    verdicts: dict[str, bool] = {}
    exps: list[Expect] = []
    for c in record.get("checks", []):
        name, op = str(c.get("name")), c.get("op") or ""
        observed, threshold = c.get("observed"), c.get("threshold")
        numeric = isinstance(observed, int | float) and not isinstance(observed, bool)
        if op in (">=", "<=", "==") and numeric and isinstance(threshold, int | float):
            metrics[name] = Metric(
                observed,
                threshold,
                op,
                bool(c.get("blocking", True)),
                advisory=bool(c.get("advisory")),
            )
        else:
            col = f"{name} (recorded verdict)"
            verdicts[col] = bool(c.get("passed"))
            exps.append(Expect(name, "expect_column_values_to_be_in_set",
                               {"column": col, "value_set": [True]},
                               bool(c.get("blocking", True))))  # fmt: skip
    import pandas as pd

    frame = pd.DataFrame([verdicts]) if verdicts else None
    return core.run_gate(str(record.get("gate")), str(record.get("artifact", "")), frame, exps,
                         metrics)  # fmt: skip


def _strip_external(html: str) -> str:
    """Drop tags that fetch from the network; add a small inline style instead."""
    html = re.sub(r"<script[^>]*\ssrc=\"https?://[^\"]*\"[^>]*>\s*</script>", "", html)
    html = re.sub(r"<link[^>]*\shref=\"https?://[^\"]*\"[^>]*/?>", "", html)
    html = re.sub(r"<img[^>]*\ssrc=\"https?://[^\"]*\"[^>]*/?>", "", html)
    return html.replace("</head>", _OFFLINE_CSS + "</head>", 1)


def _index_rows(results: list[tuple[str, Any]], modes: dict[str, str], out_dir: Path) -> str:
    rows = []
    for suite, result in results:
        gate = suite[: -len("_metrics")] if suite.endswith("_metrics") else suite
        stats = result.statistics or {}
        ok = bool(result.success)
        pages = sorted(out_dir.glob(f"validations/{suite}/**/*.html"))
        links = [f'<a href="{p.relative_to(out_dir).as_posix()}">validation result</a>'
                 for p in pages[-1:]]  # fmt: skip
        if (out_dir / "expectations" / f"{suite}.html").exists():
            links.append(f'<a href="expectations/{escape(suite)}.html">expectation suite</a>')
        status = ('<span class="text-success">passed</span>' if ok
                  else '<span class="text-danger">failed</span>')  # fmt: skip
        rows.append(
            f"<tr><td>{escape(gate)}</td><td>{escape(suite)}</td><td>{status}</td>"
            f"<td>{stats.get('successful_expectations')} of "
            f"{stats.get('evaluated_expectations')}</td><td>{escape(modes.get(gate, ''))}</td>"
            f"<td>{' · '.join(links)}</td></tr>"
        )
    return "".join(rows)


def _render_site(
    results: list[tuple[str, Any]], run_name: str, out_dir: Path, modes: dict[str, str]
) -> None:
    """Store captured results in a file context, build its Data Docs into ``out_dir``,
    make the pages work offline and put a plain index in front of them."""
    gx = core._gx()
    from great_expectations.core.run_identifier import RunIdentifier
    from great_expectations.data_context.types.resource_identifiers import (
        ExpectationSuiteIdentifier,
        ValidationResultIdentifier,
    )

    run_identifier = RunIdentifier(run_name=run_name, run_time=datetime.now(UTC))
    with tempfile.TemporaryDirectory(prefix="maga-gx-") as project:
        ctx = gx.get_context(mode="file", project_root_dir=project)
        ctx.add_data_docs_site(SITE, {
            "class_name": "SiteBuilder",
            "show_how_to_buttons": False,
            "store_backend": {"class_name": "TupleFilesystemStoreBackend",
                              "base_directory": str(out_dir)},
            "site_index_builder": {"class_name": "DefaultSiteIndexBuilder"},
        })  # fmt: skip
        for suite_name, result in results:
            suite = gx.ExpectationSuite(name=suite_name)
            for res in result.results:
                suite.add_expectation_configuration(res.expectation_config)
            with suppress(Exception):  # same suite name twice: the first one stays
                ctx.suites.add(suite)
            result.meta["run_id"] = run_identifier
            key = ValidationResultIdentifier(
                expectation_suite_identifier=ExpectationSuiteIdentifier(name=suite_name),
                run_id=run_identifier,
                batch_identifier=suite_name,
            )
            ctx.validation_results_store.set(key, result)
        ctx.build_data_docs(site_names=[SITE])
    shutil.rmtree(out_dir / "static" / "fonts", ignore_errors=True)
    for image in (out_dir / "static" / "images").glob("*"):
        if image.name not in _KEEP_IMAGES:
            image.unlink()
    for page in out_dir.rglob("*.html"):
        page.write_text(_strip_external(page.read_text(encoding="utf-8")), encoding="utf-8")
    (out_dir / "index.html").rename(out_dir / "ge_index.html")
    index = (_INDEX.replace("@TITLE@", escape(run_name)).replace("@CSS@", _OFFLINE_CSS)
             .replace("@VERSION@", escape(str(gx.__version__)))
             .replace("@ROWS@", _index_rows(results, modes, out_dir)))  # fmt: skip
    (out_dir / "index.html").write_text(index, encoding="utf-8")


def build_data_docs(
    run_uri: str,
    gates: dict[str, dict[str, Any]],
    *,
    dag_id: str,
    run_id: str,
    extra: list[GateResult] | None = None,
    storage: Storage | None = None,
) -> DataDocs:
    """Build ``<run>/data_docs/`` for the recorded gates (and ``extra`` results that are
    not recorded, such as the report's collapse preview)."""
    storage = storage or Storage()
    docs = DataDocs(index_uri=None)
    replay: Callable[[str], GateResult] | None = None
    results: list[tuple[str, Any]] = []
    ordered = sorted(gates.items(), key=lambda kv: (bool(kv[1].get("passed")), kv[0]))
    with capture_validations() as captured:
        for n, (name, record) in enumerate(ordered):
            if "checks" not in record or not record.get("checks"):
                continue
            if n >= MAX_GATES:
                docs.modes[name] = f"not rendered (Data Docs keep the first {MAX_GATES} gates)"
                continue
            before = len(captured)
            try:
                if name not in TOOL_MODEL_GATES or dag_id != "maga_tool_models":
                    raise LookupError("no replay for this gate")
                replay = replay or _replay_tool_models(run_uri, storage)
                again = replay(name)
                same = again.passed == bool(record.get("passed"))
                docs.modes[name] = "replayed" if same else "replayed (verdict differs)"
            except Exception as exc:
                del captured[before:]
                log.info("data docs: gate %s rebuilt from gate.json (%s)", name, exc)
                _from_record(record)
                docs.modes[name] = "from gate.json"
        for result in extra or []:
            before = len(captured)
            _from_record(result.to_dict())
            docs.modes[result.gate] = "report preview"
        results = list(captured)
    if not results:
        docs.error = "no gate results in this run"
        return docs
    target = join_uri(run_uri, "data_docs")
    local = local_path(target)
    try:
        with tempfile.TemporaryDirectory(prefix="maga-datadocs-") as tmp:
            out = Path(tmp) / "site"
            _render_site(results, run_id, out, docs.modes)
            if local is not None:
                shutil.rmtree(local, ignore_errors=True)
                local.parent.mkdir(parents=True, exist_ok=True)
                shutil.copytree(out, local)
            else:
                storage.upload_dir(out, target)
        docs.index_uri = join_uri(target, "index.html")
    except Exception as exc:  # Data Docs are an extra; the report still renders
        log.warning("data docs not built: %s", exc)
        docs.error = f"Data Docs not built: {exc}"
    return docs
