"""Teacher judge stage: score every teacher rewrite, then build the SFT data for the
two tool models from the training split (score >= the keep threshold)."""

from __future__ import annotations

import json

from maga.jsonl import read_jsonl, write_jsonl
from maga.judging.judge import judge_rewrites, score_histogram, share_at_least
from maga.labeling.common import record_usage
from maga.llm.kept import drop_kept
from maga.operations import GA, REWRITE, reject_kind, truncate
from maga.runs.context import RunContext
from maga.runs.stage import StageStats


class TeacherJudgeStage:
    name = "teacher_judge"
    reads = ("sample/sample.jsonl", "teacher_ga/labels.jsonl", "teacher_reformulate/rewrites.jsonl")
    writes = (
        "teacher_judge/judged.jsonl",
        "teacher_judge/sft_ga.jsonl",
        "teacher_judge/sft_reform.jsonl",
    )

    def run(self, ctx: RunContext) -> StageStats:
        cfg = ctx.config
        docs = {d["id"]: d for d in read_jsonl(ctx.storage, ctx.uri("sample", "sample.jsonl"))}
        labels = read_jsonl(ctx.storage, ctx.uri("teacher_ga", "labels.jsonl"))
        rewrites = read_jsonl(ctx.storage, ctx.uri("teacher_reformulate", "rewrites.jsonl"))
        stats = StageStats(docs_in=len(rewrites))
        sources = {k: d["text"] for k, d in docs.items()}
        keep = (ctx.storage, ctx.uri(self.name, "partial"))  # a retry resumes the finished chunks
        judged, outcome = judge_rewrites(cfg, sources, rewrites, keep=keep)
        record_usage(stats, "teacher", outcome)
        for row in judged:
            if row["judge_reject"]:
                stats.drop(reject_kind(row["judge_reject"]))
            elif not row["kept"]:
                stats.drop(f"score_below_{cfg.judge.keep_threshold}")
        stats.docs_out = sum(r["kept"] for r in judged)
        hist = score_histogram(judged)
        stats.extra.update(
            {
                "score_histogram": hist,
                "share_ge3": round(share_at_least(judged, 3), 4),
                "kept_share": round(stats.docs_out / max(1, len(judged)), 4),
                "keep_threshold": cfg.judge.keep_threshold,
            }
        )
        sft_ga, sft_reform = self._sft(ctx, docs, labels, judged)
        stats.extra["sft_examples"] = {"ga": len(sft_ga), "reformulation": len(sft_reform)}
        for name, rows in (("judged", judged), ("sft_ga", sft_ga), ("sft_reform", sft_reform)):
            stats.artifacts[name] = ctx.uri(self.name, f"{name}.jsonl")
            write_jsonl(ctx.storage, stats.artifacts[name], rows)
        drop_kept(*keep)
        return stats

    @staticmethod
    def _sft(ctx, docs, labels, judged) -> tuple[list[dict], list[dict]]:
        cfg = ctx.config
        kept_docs = {r["source_id"] for r in judged if r["kept"]}
        sft_ga = []
        for lab in labels:
            doc = docs[lab["id"]]
            if lab["valid"] and doc["split"] == "train" and lab["id"] in kept_docs:
                text, _ = truncate(doc["text"], cfg.generation.max_input_chars)
                sft_ga.append(
                    {
                        "source_id": lab["id"],
                        "messages": GA.messages(cfg, text),
                        "completion": json.dumps(
                            {"pairs": lab["pairs"]}, ensure_ascii=False, separators=(",", ":")
                        ),
                    }
                )
        sft_reform = []
        for row in judged:
            if row["kept"] and row["split"] == "train":
                text, _ = truncate(docs[row["source_id"]]["text"], cfg.generation.max_input_chars)
                sft_reform.append(
                    {
                        "source_id": row["source_id"],
                        "messages": REWRITE.messages(cfg, text, row["genre"], row["audience"]),
                        "completion": row["text"],
                    }
                )
        return sft_ga, sft_reform
