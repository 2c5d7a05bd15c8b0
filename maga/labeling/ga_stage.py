"""Teacher stage 1: (genre, audience) pairs for every sampled document, all pairs of
a document in ONE generation (the paper's "one pass for many"), JSON enforced by
structured outputs and then checked by rules."""

from __future__ import annotations

from maga.jsonl import read_jsonl, write_jsonl
from maga.labeling.common import ga_request, record_usage, truncate
from maga.labeling.schemas import parse_ga
from maga.llm.jobs import run_generation
from maga.llm.models import teacher_spec
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
            requests.append(ga_request(cfg, doc["id"], text))
        outcome = run_generation(teacher_spec(cfg), requests)
        record_usage(stats, "teacher", outcome)
        rows = []
        for doc, res in zip(docs, outcome.results, strict=True):
            if not res.ok:
                parsed_pairs, reject = [], f"generation_error:{res.error}"
            else:
                parsed = parse_ga(res.text, cfg.generation.pairs_per_doc)
                parsed_pairs, reject = parsed.pairs, parsed.reject
            row = {
                "id": doc["id"],
                "split": doc["split"],
                "valid": reject is None,
                "reject_reason": reject,
                "pairs": parsed_pairs if reject is None else [],
            }
            if reject is not None:
                stats.drop(reject.split(":")[0])
                row["raw"] = res.text[:500]
            rows.append(row)
        stats.docs_out = sum(r["valid"] for r in rows)
        stats.extra["truncated_inputs"] = truncated
        stats.extra["valid_share"] = round(stats.docs_out / max(1, len(rows)), 4)
        stats.artifacts["labels"] = ctx.uri(self.name, "labels.jsonl")
        write_jsonl(ctx.storage, stats.artifacts["labels"], rows)
        return stats
