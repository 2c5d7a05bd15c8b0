"""Teacher stage 2: one reformulation per (genre, audience) pair, under the
configured prompt variant (Base, Strict or Relaxed template)."""

from __future__ import annotations

from maga.jsonl import read_jsonl, write_jsonl
from maga.labeling.common import record_usage
from maga.llm.kept import drop_kept, generate_kept
from maga.llm.models import teacher_spec
from maga.operations import REWRITE, reject_kind, truncate
from maga.runs.context import RunContext
from maga.runs.stage import StageStats


def rewrite_items(docs: dict[str, dict], labels: list[dict]) -> list[dict]:
    """One item per (document, pair) of every validly labelled document."""
    items = []
    for lab in labels:
        if not lab["valid"]:
            continue
        for k, pair in enumerate(lab["pairs"]):
            items.append(
                {
                    "id": f"{lab['id']}#{k}",
                    "source_id": lab["id"],
                    "pair_index": k,
                    "genre": pair["genre"],
                    "audience": pair["audience"],
                    "split": docs[lab["id"]]["split"],
                }
            )
    return items


class TeacherReformulateStage:
    name = "teacher_reformulate"
    reads = ("sample/sample.jsonl", "teacher_ga/labels.jsonl")
    writes = ("teacher_reformulate/rewrites.jsonl",)

    def run(self, ctx: RunContext) -> StageStats:
        cfg = ctx.config
        docs = {d["id"]: d for d in read_jsonl(ctx.storage, ctx.uri("sample", "sample.jsonl"))}
        labels = read_jsonl(ctx.storage, ctx.uri("teacher_ga", "labels.jsonl"))
        items = rewrite_items(docs, labels)
        stats = StageStats(docs_in=len(items))
        requests = []
        for it in items:
            text, _ = truncate(docs[it["source_id"]]["text"], cfg.generation.max_input_chars)
            requests.append(REWRITE.request(cfg, it["id"], text, it["genre"], it["audience"]))
        outcome = generate_kept(ctx.storage, ctx.uri(self.name, "partial"), teacher_spec(cfg),
                                requests, deterministic=cfg.runner.deterministic)  # fmt: skip
        record_usage(stats, "teacher", outcome)
        rows, hit_limit = [], 0
        for it, res in zip(items, outcome.results, strict=True):
            parsed = REWRITE.outcome(res)  # failed, empty or thinking: a counted drop
            if parsed.reject is not None:
                stats.drop(reject_kind(parsed.reject))
                continue
            hit_limit += res.finish_reason == "length"
            rows.append(
                {
                    **it,
                    "prompt_variant": cfg.generation.prompt_variant,
                    **REWRITE.fields(parsed),
                    "finish_reason": res.finish_reason,
                }
            )
        stats.docs_out = len(rows)
        stats.extra["hit_max_tokens"] = hit_limit
        stats.artifacts["rewrites"] = ctx.uri(self.name, "rewrites.jsonl")
        write_jsonl(ctx.storage, stats.artifacts["rewrites"], rows)
        drop_kept(ctx.storage, ctx.uri(self.name, "partial"))
        return stats
