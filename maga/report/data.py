"""Read what a run folder holds into one :class:`RunData`, whichever DAG wrote it.

Only ``summary.json`` is required. Everything else is optional and looked up by the
names the stages write (``sample/sample.jsonl``, ``teacher_judge/judged.jsonl``, ...)
or, for the corpus-refresh DAG, by shape: Parquet shards with ``source_id`` and
``text`` columns are synthetic documents. What is missing is recorded in ``notes``.
"""

from __future__ import annotations

import io
import json
import random
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

from maga.config import RECORDED, RefreshCleanConfig, ReportConfig
from maga.log import get_logger
from maga.storage import Storage, StorageError, join_uri

log = get_logger("report.data")

MAX_ROWS = 20000  # synthetic rows read per run for text metrics
MAX_SOURCE_SCAN = 200000  # corpus records scanned to find the sources of synthetic rows
SNIPPET = 600  # characters of example text kept for the page
# Scored rewrites by who wrote them: (relative path, role shown in the report).
JUDGED_FILES = (
    ("teacher_judge/judged.jsonl", "teacher"),
    ("eval_slm/slm_rewrites.jsonl", "tool SLM"),
    ("eval_quantized/slm_rewrites.jsonl", "quantized SLM"),
)
SKIP_DIRS = ("model", "base", "ga_slm", "reformulation_slm", "data_docs")


@dataclass
class RunData:
    """Everything the report reads from one run folder."""

    run_uri: str
    summary: dict[str, Any]
    config: dict[str, Any] = field(default_factory=dict)
    report_cfg: ReportConfig = field(default_factory=ReportConfig)
    # cleaning's own settings: the report measures what the data was filtered on
    clean: RefreshCleanConfig = field(default_factory=RefreshCleanConfig)
    files: list[str] = field(default_factory=list)  # paths relative to the run folder
    gates: dict[str, dict[str, Any]] = field(default_factory=dict)  # full gate.json
    sources: dict[str, str] = field(default_factory=dict)  # source id -> text
    synthetic: list[dict[str, Any]] = field(default_factory=list)  # the run's rewrites
    synthetic_origin: str = ""  # where ``synthetic`` came from
    judged: dict[str, list[dict[str, Any]]] = field(default_factory=dict)  # role -> rows
    score_hists: dict[str, dict[str, int]] = field(default_factory=dict)  # label -> counts
    source_shards: list[str] = field(default_factory=list)  # corpus files the run read
    drop_examples: dict[str, dict[str, list[dict[str, Any]]]] = field(default_factory=dict)
    output_form: dict[str, Any] = field(default_factory=dict)  # refresh: mode, tokens, mixes
    refresh_report: dict[str, Any] = field(default_factory=dict)  # refresh: report.json
    table1: dict[str, Any] | None = None
    comparison: dict[str, Any] | None = None
    notes: list[str] = field(default_factory=list)

    @property
    def demo(self) -> bool:
        return bool(self.summary.get("demo_models"))

    def has(self, rel: str) -> bool:
        return rel in self.files


def _read_jsonl(storage: Storage, uri: str, limit: int | None = None) -> list[dict[str, Any]]:
    rows = []
    for line in storage.read_bytes(uri).decode("utf-8").splitlines():
        if line.strip():
            rows.append(json.loads(line))
            if limit and len(rows) >= limit:
                break
    return rows


def _read_parquet(storage: Storage, uri: str, limit: int) -> list[dict[str, Any]]:
    import pyarrow.parquet as pq

    table = pq.ParquetFile(io.BytesIO(storage.read_bytes(uri)))
    rows: list[dict[str, Any]] = []
    for batch in table.iter_batches(batch_size=2048):
        rows.extend(batch.to_pylist())
        if len(rows) >= limit:
            break
    return rows[:limit]


def _snippet(text: Any, n: int = SNIPPET) -> str:
    text = "" if text is None else str(text)
    return text if len(text) <= n else text[:n].rstrip() + " ..."


def _report_cfg(config: dict[str, Any]) -> ReportConfig:
    known = ReportConfig.model_fields  # runs made by older releases may hold retired keys
    settings = {k: v for k, v in (config.get("report") or {}).items() if k in known}
    try:
        return ReportConfig.model_validate(settings, context=RECORDED)
    except ValueError as exc:
        log.warning("report settings in config.json are invalid (%s); using defaults", exc)
        return ReportConfig()


def load_run(run_uri: str, storage: Storage | None = None) -> RunData:
    """Read a run folder; raises ``StorageError`` only when ``summary.json`` is missing."""
    storage = storage or Storage()
    run_uri = run_uri.rstrip("/")
    summary = storage.read_json(join_uri(run_uri, "summary.json"))
    data = RunData(run_uri=run_uri, summary=summary)
    try:
        data.config = storage.read_json(join_uri(run_uri, "config.json"))
    except StorageError:
        data.notes.append("config.json not found: report settings are the defaults")
    data.report_cfg = _report_cfg(data.config)
    clean = (data.config.get("refresh") or {}).get("clean") or {}
    fields = RefreshCleanConfig.model_fields  # an older run's config may hold other keys
    data.clean = RefreshCleanConfig(**{k: v for k, v in clean.items() if k in fields})
    prefix = len(run_uri) + 1
    data.files = [
        info.uri[prefix:]
        for info in storage.list(run_uri)
        if not any(part in SKIP_DIRS for part in info.uri[prefix:].split("/")[:-1])
    ]
    _load_gates(data, storage)
    _load_judged(data, storage)
    if data.has("report.json"):
        _load_refresh(data, storage)
    if not data.synthetic:
        _load_synthetic(data, storage)
    _load_sources(data, storage)
    _load_drop_examples(data, storage)
    for rel, attr in (("eval_slm/table1.json", "table1"),
                      ("eval_quantized/comparison.json", "comparison")):  # fmt: skip
        if data.has(rel):
            setattr(data, attr, storage.read_json(join_uri(run_uri, rel)))
    return data


def _load_gates(data: RunData, storage: Storage) -> None:
    for rel in data.files:
        parts = rel.split("/")
        if len(parts) == 3 and parts[0] == "gates" and parts[2] == "gate.json":
            try:
                result = storage.read_json(join_uri(data.run_uri, rel))
            except StorageError as exc:
                data.notes.append(f"{rel}: {exc}")
                continue
            result["_uri"] = join_uri(data.run_uri, rel)
            data.gates[result.get("gate", parts[1])] = result
    for name, brief in (data.summary.get("gates") or {}).items():
        data.gates.setdefault(name, {"gate": name, **brief})


def _load_judged(data: RunData, storage: Storage) -> None:
    known = {rel for rel, _ in JUDGED_FILES}
    found = [(rel, role) for rel, role in JUDGED_FILES if data.has(rel)]
    found += [(rel, rel.split("/")[0]) for rel in data.files
              if rel.rsplit("/", 1)[-1].startswith("judged") and rel.endswith(".jsonl")
              and rel not in known]  # fmt: skip
    for rel, role in found:
        rows = _read_jsonl(storage, join_uri(data.run_uri, rel), MAX_ROWS)
        if rows and "score" in rows[0]:
            data.judged[role] = rows


def _parquet_shards(data: RunData) -> list[str]:
    return [rel for rel in data.files if rel.endswith(".parquet")]


def _load_synthetic(data: RunData, storage: Storage) -> None:
    rng = random.Random(data.report_cfg.seed)
    shards = _parquet_shards(data)
    rows: list[dict[str, Any]] = []
    used: list[str] = []
    for rel in shards:
        if len(rows) >= MAX_ROWS:
            break
        try:
            part = _read_parquet(storage, join_uri(data.run_uri, rel), MAX_ROWS - len(rows))
        except Exception as exc:  # a corrupt shard must not stop the report
            data.notes.append(f"{rel}: not readable ({exc})")
            continue
        if part and {"source_id", "text"} <= set(part[0]):
            rows.extend(part)
            used.append(rel)
    if rows:
        data.synthetic = rows
        more = " (first rows only)" if len(rows) >= MAX_ROWS else ""
        data.synthetic_origin = f"{len(used)} Parquet shard(s){more}"
        for r in rows:
            r.setdefault("role", "tool models")
        if "score" in rows[0]:
            data.judged.setdefault("corpus", rows)
    elif "teacher" in data.judged:
        data.synthetic = data.judged["teacher"]
        data.synthetic_origin = "teacher_judge/judged.jsonl (teacher rewrites)"
    elif data.has("teacher_reformulate/rewrites.jsonl"):
        uri = join_uri(data.run_uri, "teacher_reformulate/rewrites.jsonl")
        data.synthetic = _read_jsonl(storage, uri, MAX_ROWS)
        data.synthetic_origin = "teacher_reformulate/rewrites.jsonl (teacher rewrites)"
    if len(data.synthetic) > MAX_ROWS:
        data.synthetic = rng.sample(data.synthetic, MAX_ROWS)


def _load_sources(data: RunData, storage: Storage) -> None:
    if data.has("sample/sample.jsonl"):
        rows = _read_jsonl(storage, join_uri(data.run_uri, "sample/sample.jsonl"))
        data.sources = {str(r["id"]): r.get("text") or "" for r in rows if "id" in r}
        return
    wanted = {str(r.get("source_id")) for r in data.synthetic if r.get("source_id")}
    if not wanted:
        return
    corpus = data.config.get("corpus")
    if not corpus:
        data.notes.append("source documents not found (no sample and no corpus in config.json)")
        return
    from maga.config import CorpusConfig

    wanted = set(sorted(wanted)[: data.report_cfg.max_embed_docs])
    locations = data.source_shards or [str(corpus.get("uri"))]
    scanned = 0
    for uri in locations:
        try:
            cfg = CorpusConfig.model_validate({**corpus, "uri": uri})
            scanned = _scan_sources(data, storage, cfg, wanted, scanned)
        except Exception as exc:  # corpus moved or unreadable: report without sources
            data.notes.append(f"source corpus {uri} not readable ({exc})")
        if len(data.sources) >= len(wanted) or scanned >= MAX_SOURCE_SCAN:
            break
    if scanned >= MAX_SOURCE_SCAN:
        data.notes.append(f"sources: stopped after scanning {scanned} corpus records")


def _scan_sources(data: RunData, storage: Storage, cfg: Any, wanted: set[str], n: int) -> int:
    from maga.corpus.reader import iter_records

    for rec in iter_records(cfg, storage, []):
        n += 1
        if rec.id in wanted:
            data.sources[rec.id] = rec.text
            if len(data.sources) == len(wanted):
                break
        if n >= MAX_SOURCE_SCAN:
            break
    return n


def _load_refresh(data: RunData, storage: Storage) -> None:
    """A corpus-refresh run: ``report.json`` names the source shards, the output location
    (``<output>/data/<key>.parquet``, ``<output>/rejects/<key>.parquet``), the judge's score
    histograms and a few examples of each drop reason."""
    try:
        report = storage.read_json(join_uri(data.run_uri, "report.json"))
    except StorageError as exc:
        data.notes.append(f"report.json: {exc}")
        return
    data.refresh_report = report
    output, shards = report.get("output"), report.get("shards") or []
    if not output or not isinstance(shards, list):
        return
    data.source_shards = [str(u) for u in report.get("selected") or []]
    variant = str(report.get("prompt_variant") or "unknown")
    hist: dict[str, int] = defaultdict(int)
    n = data.report_cfg.examples_per_reason
    drops: dict[str, dict[str, list[dict[str, Any]]]] = defaultdict(lambda: defaultdict(list))
    rows: list[dict[str, Any]] = []
    for shard in shards:
        for k, v in (shard.get("score_histogram") or {}).items():
            hist[str(k)] += int(v or 0)
        for reason, items in (shard.get("drop_examples") or {}).items():
            for it in items:
                _add(drops["clean"], reason, {"id": it.get("id"), "model_text": True,
                                              "text": _snippet(it.get("text") or it.get("detail"))},
                     n)  # fmt: skip
        key = shard.get("key")
        if not key:
            continue
        for kind in ("data", "rejects"):
            uri = join_uri(str(output), kind, f"{key}.parquet")
            try:
                part = _read_parquet(storage, uri, MAX_ROWS - len(rows) if kind == "data" else 500)
            except Exception as exc:  # unpublished or removed shard: report what is there
                if kind == "data" and shard.get("outcome") == "ok":
                    data.notes.append(f"{uri}: not readable ({exc})")
                continue
            if kind == "data":
                if part and part[0].get("output_mode", "documents") != "documents":
                    # megadocs: the report's text metrics read the generations they hold
                    try:
                        part = _read_parquet(storage, join_uri(str(output), "generations",
                                                               f"{key}.parquet"),
                                             MAX_ROWS - len(rows))  # fmt: skip
                    except Exception as exc:
                        data.notes.append(f"generations of {key}: not readable ({exc})")
                rows.extend(part)
                continue
            for r in part:
                stage = "gate_input" if r.get("stage") == "input" else str(r.get("stage") or "")
                _add(drops[stage], str(r.get("reason") or "unknown"),
                     {"id": r.get("rewrite_id") or r.get("source_id"),
                      "text": _snippet(r.get("text") or r.get("detail")),
                      "model_text": stage != "gate_input"}, n)  # fmt: skip
    if rows:
        data.synthetic = rows[:MAX_ROWS]
        data.synthetic_origin = f"published corpus-refresh output under {output}"
    data.output_form = {"modes": sorted({str(s.get("output_mode") or "documents")
                                         for s in shards}),
                        "totals": report.get("totals") or {}, "mixes": None}  # fmt: skip
    mixes = join_uri(str(output), "mixes", "summary.json")
    if storage.exists(mixes):  # written by export_mix, after this report's first build
        data.output_form["mixes"] = storage.read_json(mixes)
    if any(hist.values()):
        data.score_hists[f"judged sample · {variant}"] = dict(hist)
    for stage, reasons in drops.items():
        merged = data.drop_examples.setdefault(stage, {})
        for reason, items in reasons.items():
            merged.setdefault(reason, items)


def _add(out: dict[str, list[dict[str, Any]]], reason: str, example: dict[str, Any], n: int):
    if len(out[reason]) < n:
        out[reason].append(example)


def _load_drop_examples(data: RunData, storage: Storage) -> None:
    """A few records per (stage, drop reason), read from the files that record drops."""
    n = data.report_cfg.examples_per_reason
    by_stage: dict[str, dict[str, list[dict[str, Any]]]] = defaultdict(lambda: defaultdict(list))
    for rel in data.files:
        stage, name = rel.split("/")[0], rel.rsplit("/", 1)[-1]
        if not name.endswith(".jsonl") or not any(k in name for k in ("reject", "quarantine")):
            continue
        for row in _read_jsonl(storage, join_uri(data.run_uri, rel), 5000):
            reason = str(row.get("reason") or row.get("reject_reason") or "unknown")
            text = row.get("text") or row.get("raw") or row.get("detail") or row.get("source")
            _add(by_stage[stage], reason, {"id": row.get("id"), "text": _snippet(text),
                                           "model_text": "raw" in row}, n)  # fmt: skip
    if data.has("teacher_ga/labels.jsonl"):
        for row in _read_jsonl(storage, join_uri(data.run_uri, "teacher_ga/labels.jsonl")):
            if not row.get("valid"):
                reason = str(row.get("reject_reason") or "invalid").split(":")[0]
                _add(by_stage["teacher_ga"], reason,
                     {"id": row.get("id"), "text": _snippet(row.get("raw")), "model_text": True},
                     n)  # fmt: skip
    keep = (data.config.get("judge") or {}).get("keep_threshold", 3)
    for row in data.judged.get("teacher", []):
        if row.get("judge_reject"):
            reason = str(row["judge_reject"]).split(":")[0]
        elif not row.get("kept", True):
            reason = f"score_below_{keep}"
        else:
            continue
        _add(by_stage["teacher_judge"], reason,
             {"id": row.get("id"), "text": _snippet(row.get("text")), "score": row.get("score"),
              "model_text": True}, n)  # fmt: skip
    for stage, reasons in by_stage.items():
        merged = data.drop_examples.setdefault(stage, {})
        for reason, items in reasons.items():
            merged.setdefault(reason, items)
