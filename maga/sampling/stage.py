"""Labeling-data sampling: a seeded sample of the source corpus, stratified by
length bucket and language, after length bounds and exact-duplicate removal."""

from __future__ import annotations

import hashlib

from maga.corpus.reader import Quarantined, iter_records
from maga.jsonl import write_jsonl
from maga.log import get_logger
from maga.runs.context import RunContext
from maga.runs.stage import StageStats
from maga.sampling.stratified import StratifiedSampler, length_bucket

log = get_logger("sampling")


class SampleStage:
    name = "sample"
    reads: tuple[str, ...] = ()
    writes = ("sample/sample.jsonl", "sample/rejects.jsonl")

    def run(self, ctx: RunContext) -> StageStats:
        cfg = ctx.config.sampling
        stats = StageStats()
        quarantine: list[Quarantined] = []
        sampler = StratifiedSampler(cfg.size, cfg.seed)
        seen_text: set[bytes] = set()
        rejects: list[dict] = []
        for rec in iter_records(ctx.config.corpus, ctx.storage, quarantine):
            stats.docs_in += 1
            text = rec.text.strip()
            n = len(text)
            reason = "too_short" if n < cfg.min_chars else "too_long" if n > cfg.max_chars else None
            digest = hashlib.sha1(text.encode("utf-8")).digest()
            if reason is None and digest in seen_text:
                reason = "duplicate_text"
            if reason:
                stats.drop(reason)
                if len(rejects) < 1000:
                    rejects.append({"id": rec.id, "source": rec.source, "reason": reason})
                continue
            seen_text.add(digest)
            bucket = length_bucket(n, cfg.length_buckets)
            doc = {
                "id": rec.id,
                "text": text,
                "lang": rec.lang,
                "n_chars": n,
                "length_bucket": bucket,
            }
            sampler.offer((rec.lang or "unknown", bucket), doc)
            if stats.docs_in % 5000 == 0:
                log.info("sample: read %d documents", stats.docs_in)
        for q in quarantine:
            stats.drop(q.reason)
            rejects.append(q.as_dict())
        stats.docs_in += len(quarantine)
        docs = sampler.sample()
        # The first `heldout_docs` in priority order are held out of SFT (Table 1 eval).
        for i, doc in enumerate(docs):
            doc["split"] = "heldout" if i < cfg.heldout_docs else "train"
        docs.sort(key=lambda d: d["id"])
        stats.drop("not_sampled", max(0, len(seen_text) - len(docs)))
        stats.docs_out = len(docs)
        stats.artifacts["sample"] = ctx.uri("sample", "sample.jsonl")
        stats.artifacts["rejects"] = ctx.uri("sample", "rejects.jsonl")
        write_jsonl(ctx.storage, stats.artifacts["rejects"], rejects)
        write_jsonl(ctx.storage, stats.artifacts["sample"], docs)
        stats.extra["strata"] = {
            f"{lang}/{bucket}": n for (lang, bucket), n in sorted(sampler.counts.items())
        }
        stats.extra["heldout_docs"] = sum(d["split"] == "heldout" for d in docs)
        return stats
