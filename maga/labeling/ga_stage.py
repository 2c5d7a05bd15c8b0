"""Teacher stage 1: (genre, audience) pairs for every sampled document, all pairs of
a document in ONE generation (the paper's "one pass for many"), JSON enforced by
structured outputs and then checked by rules."""

from __future__ import annotations

from maga.jsonl import read_jsonl, write_jsonl
from maga.labeling.common import record_usage
from maga.llm.kept import drop_kept, generate_kept
from maga.llm.models import teacher_spec
from maga.operations import GA, reject_kind, truncate
from maga.runs.context import RunContext
from maga.runs.stage import StageStats


class TeacherGAStage:
    name = "teacher_ga"
    reads = ("sample/sample.jsonl",)
    writes = ("teacher_ga/labels.jsonl",)

    def run(self, ctx: RunContext) -> StageStats:
        cfg = ctx.config
        docs = read_jsonl(ctx.storage, ctx.uri("sample", "sample.jsonl"))
        stats = StageStats(docs_in=len(docs))
        requests, truncated = [], 0
        for doc in docs:
            text, cut = truncate(doc["text"], cfg.generation.max_input_chars)
            truncated += cut
            requests.append(GA.request(cfg, doc["id"], text))
        outcome = generate_kept(ctx.storage, ctx.uri(self.name, "partial"), teacher_spec(cfg),
                                requests, deterministic=cfg.runner.deterministic)  # fmt: skip
        record_usage(stats, "teacher", outcome)
        rows = []
        for doc, res in zip(docs, outcome.results, strict=True):
            parsed = GA.outcome(res, cfg.generation.pairs_per_doc)
            row = {"id": doc["id"], "split": doc["split"], **GA.fields(parsed)}
            if parsed.reject is not None:
                stats.drop(reject_kind(parsed.reject))
                row["raw"] = res.text[:500]
            rows.append(row)
        stats.docs_out = sum(r["valid"] for r in rows)
        stats.extra["truncated_inputs"] = truncated
        stats.extra["valid_share"] = round(stats.docs_out / max(1, len(rows)), 4)
        stats.artifacts["labels"] = ctx.uri(self.name, "labels.jsonl")
        write_jsonl(ctx.storage, stats.artifacts["labels"], rows)
        drop_kept(ctx.storage, ctx.uri(self.name, "partial"))
        return stats
