"""Builders shared by the refresh tests: a tool-model registry pointing at the tiny
random model, source shards in every supported format, and a tiny-profile config."""

from __future__ import annotations

import gzip
import io
import json
from collections.abc import Iterable
from typing import Any

from maga.config import MagaConfig, load_config
from maga.storage import Storage


def make_registry(storage: Storage, root: str, model_dir: str, version: int = 1) -> str:
    """A registry version whose GA-SLM and reformulation SLM are both ``model_dir``."""
    from maga.registry.manifest import (
        RegisteredModel,
        ToolModelsManifest,
        registry_root,
        write_version,
    )

    model = RegisteredModel(uri=model_dir, quantized_uri=model_dir)
    manifest = ToolModelsManifest(
        version=version, models={"ga_slm": model, "reformulation_slm": model}
    )
    return write_version(storage, registry_root(root), manifest)


def register_via_stage(storage: Storage, root: str) -> dict[str, str]:
    """Register tool models with the real register stage of ``maga_tool_models``, its
    upstream outputs stubbed: four distinct folders (GA-SLM, reformulation SLM, and the
    quantized weights of each), so a swap of the two models, or unquantized weights
    loaded, shows in which folder a request was sent to. Returns role -> folder."""
    from maga.pipelines.tool_models import DAG_ID as TOOL_DAG
    from maga.registry.stage import RegisterStage
    from maga.runs.context import RunContext
    from maga.runs.stage import run_stage
    from maga.runs.summary import refresh_summary

    ctx = RunContext.create(load_config("tiny", [f"storage.root={root}"]), TOOL_DAG, "reg")
    folders = {
        "ga_slm": ctx.uri("train_ga_slm", "model"),
        "reformulation_slm": ctx.uri("train_reformulation_slm", "model"),
        "ga_slm_quantized": ctx.uri("quantize", "ga_slm"),
        "reformulation_slm_quantized": ctx.uri("quantize", "reformulation_slm"),
    }
    quant = {"ga_slm": folders["ga_slm_quantized"],
             "reformulation_slm": folders["reformulation_slm_quantized"]}  # fmt: skip
    storage.write_json(ctx.uri("quantize", "stats.json"), {"artifacts": quant})
    storage.write_text(ctx.uri("quantize", "_SUCCESS"), "")
    storage.write_json(ctx.uri("eval_slm", "table1.json"), {})
    storage.write_json(ctx.uri("eval_quantized", "comparison.json"), {})
    refresh_summary(ctx)  # as every stage before register leaves it
    run_stage(ctx, RegisterStage())
    return folders


def shard_bytes(records: Iterable[dict[str, Any] | str], fmt: str) -> bytes:
    """Records as a JSONL, JSONL.gz or Parquet file (a str record is a raw JSONL line)."""
    records = list(records)
    if fmt == "parquet":
        import pyarrow as pa
        import pyarrow.parquet as pq

        buf = io.BytesIO()
        pq.write_table(pa.Table.from_pylist(records), buf)
        return buf.getvalue()
    lines = "".join(
        (r if isinstance(r, str) else json.dumps(r, ensure_ascii=False)) + "\n" for r in records
    ).encode("utf-8")
    return gzip.compress(lines, mtime=0) if fmt == "jsonl.gz" else lines


def docs(prefix: str, n: int, words: int = 60, start: int = 0) -> list[dict[str, Any]]:
    """``n`` readable English documents with distinct ids and content."""
    from maga.corpus.builtin import wiki_records

    pool = list(wiki_records(["en"], 200))
    out = []
    for i in range(start, start + n):
        text = pool[i % len(pool)]["text"]
        out.append({"id": f"{prefix}-{i}", "text": " ".join(text.split()[:words]), "lang": "en"})
    return out


def refresh_config(root: str, source: str, output: str, *extra: str) -> MagaConfig:
    return load_config(
        "tiny",
        [
            f"storage.root={root}",
            f"refresh.source_uri={source}",
            f"refresh.output_uri={output}",
            *extra,
        ],
    )


BOILER_HEAD = "Sure! Here is the rewritten text:"
BOILER_TAIL = "I hope this helps!"


def request_kind(req: Any) -> str:
    """ga (pairs), judge (a score), rationale (stretch) or rewrite."""
    schema = req.constraint.json_schema if req.constraint else None
    if schema and "pairs" in schema.get("properties", {}):
        return "ga"
    if schema and "score" in schema.get("properties", {}):
        return "judge"
    return "rationale" if "\nPassage:\n" in req.messages[-1]["content"] else "rewrite"


class FakeSession:
    """Stands in for ``EngineSession`` in fast tests: every output is a function of its
    request alone (as with per-request seeds), so reruns are byte-identical.

    Every request is recorded in ``asked`` with the model it was sent to. GA requests
    get five distinct pairs; rewrites keep the document's words minus every
    fifth one (a different fifth per pair, so no two rewrites of a document are near
    duplicates), wrapped in boilerplate lines; judge requests get a score of 4.
    ``crash_after`` raises on that call (a task killed mid-shard)."""

    def __init__(self, crash_after: int | None = None, boilerplate: bool = True) -> None:
        self.asked: list[tuple[str, str, str]] = []  # (request kind, spec label, model path)
        self.calls = 0
        self.requests = 0
        self.crash_after = crash_after
        self.boilerplate = boilerplate
        self.engine_starts = 0
        self.startup_seconds = 0.0

    def _one(self, req: Any) -> Any:
        from maga.llm.base import GenResult

        user = req.messages[-1]["content"]
        kind = request_kind(req)
        if kind == "ga":
            pairs = [
                {"genre": f"genre {k} of {req.key}"[:24], "audience": f"reader {k}"}
                for k in range(5)
            ]
            text = json.dumps({"pairs": pairs})
        elif kind == "judge":
            text = json.dumps({"score": 4, "reason": "keeps facts"})
        elif kind == "rationale":  # a rationale naming its passage's words
            k = int(req.key.rsplit("@", 1)[1])
            passage = user.split("\nPassage:\n", 1)[1].split("\n\nRationale:", 1)[0]
            text = f"Rationale {k}: it matters that {' '.join(passage.split()[:8])}."
            text = f"{BOILER_HEAD}\n{text}" if self.boilerplate else text
        else:
            k = int(req.key.rsplit("#", 1)[1])
            # the document sits between "Document:" and the pair that follows it
            words = user.split("Document:", 1)[1].split("\n\nGenre:", 1)[0].split()
            m = 5 + k // 5  # pairs beyond the fifth drop every 6th, 7th... word
            body = " ".join(w for i, w in enumerate(words) if (i + k) % m)
            text = f"{BOILER_HEAD}\n{body}\n{BOILER_TAIL}" if self.boilerplate else body
        return GenResult(
            text=text,
            prompt_tokens=len(user.split()),
            completion_tokens=len(text.split()),
            finish_reason="stop",
        )

    def generate(self, spec: Any, requests: list) -> Any:
        from maga.llm.base import UsageCounter
        from maga.llm.jobs import JobOutcome

        if spec.backend == "openai":  # a served teacher: the real HTTP client
            from maga.llm.jobs import _run_http

            self.asked += [(request_kind(r), spec.label, spec.path) for r in requests]
            return _run_http(spec, requests, None)
        self.calls += 1
        if self.crash_after is not None and self.calls > self.crash_after:
            raise RuntimeError(f"simulated crash at generate call {self.calls}")
        self.asked += [(request_kind(r), spec.label, spec.path) for r in requests]
        results = [self._one(r) for r in requests]
        self.requests += len(requests)
        usage = UsageCounter()
        usage.add(results, 0.01)
        return JobOutcome(results, usage)

    def stream(self, spec: Any, groups: Any) -> Any:
        """Group by group, each a ``generate`` call (``crash_after`` counts them too)."""
        for group, requests in groups:
            yield group, self.generate(spec, requests)

    def close(self) -> None:
        pass
