"""The hygiene steps applied to one shard by the clean step, and their gate metrics.

Per source document (before its rewrites are looked at), optionally: benchmark
contamination of the source (``source_contaminated``) and a near-twin source already
published (``source_near_duplicate``) drop every rewrite of it. Per kept rewrite, in
this order: language differs from the source's (``language_mismatch``), benchmark
n-gram overlap (``contaminated``), PII replaced by placeholders (the row is changed,
counted as ``pii_redacted`` and by kind), near-duplicate of a published row or of an
earlier row of this shard (``near_duplicate_corpus``). Each check's time is measured,
so the report can state its cost per 10k rewrites.

A change to a rule here that changes the output: bump its entry in
``maga.refresh.layout.RULES_VERSIONS`` (the shard fingerprint) so published shards are redone.
"""

from __future__ import annotations

import time
from collections import Counter
from pathlib import Path
from typing import Any

from maga.config import DecontamConfig, HygieneConfig, MagaConfig
from maga.gates.core import Metric
from maga.hygiene.bandlookup import PublishedIndex
from maga.hygiene.decontam import Decontaminator
from maga.hygiene.language import UNDETERMINED, LanguageId
from maga.hygiene.neardup import (
    NearDupIndex,
    index_dir,
    signature,
    signature_row,
    signature_rows,
)
from maga.hygiene.pii import redact
from maga.log import get_logger
from maga.storage import Storage, join_uri

log = get_logger("hygiene")
SOURCE_REASONS = ("source_contaminated", "source_near_duplicate")
ROW_REASONS = ("language_mismatch", "contaminated", "near_duplicate_corpus")
REASONS = SOURCE_REASONS + ROW_REASONS
CHANGED = "pii_redacted"
# The hygiene checks, as named in refresh.hygiene (each has ``enabled``) and in the
# per-step timings of stats()["seconds"].
STEPS = ("language", "near_dup", "decontam", "pii")
SIGNATURES = "minhash.parquet"  # staged beside the clean step's other files
EXAMPLES = 3


_DECON: dict[str, Decontaminator] = {}


def _decontaminator(cfg: DecontamConfig, storage: Storage, output: str) -> Decontaminator:
    """One n-gram index per process for the same benchmark files (by content hash):
    a worker cleaning many shards loads the benchmarks once, each built once per
    version into ``<output>/dedup/decontam`` and read from there by later tasks."""
    etags = [storage.etag(b.uri) if storage.exists(b.uri) else "" for b in cfg.benchmarks]
    key = cfg.model_dump_json() + "|".join(etags)
    if key not in _DECON:
        _DECON.clear()
        _DECON[key] = Decontaminator(cfg, storage, join_uri(output, "dedup", "decontam"))
    return _DECON[key]


class ShardHygiene:
    """Stateful over one shard: counts, examples, timings, the staged signatures."""

    def __init__(self, cfg: MagaConfig, storage: Storage, output: str, key: str, tmp: Path):
        self.cfg: HygieneConfig = cfg.refresh.hygiene
        self.key = key
        self.t: Counter = Counter()  # seconds per check
        started = time.perf_counter()
        h = self.cfg
        self.lang = LanguageId(h.language) if h.language.enabled else None
        self.decon = (_decontaminator(h.decontam, storage, output)
                      if h.decontam.enabled and h.decontam.benchmarks else None)  # fmt: skip
        self.t["decontam_load"] = time.perf_counter() - started
        self.near = None
        self.sigs = None
        self.index_rows = 0
        if h.near_dup.enabled:
            t0 = time.perf_counter()
            self.near = NearDupIndex(h.near_dup)
            # this shard's own earlier version is being replaced: not a twin of itself
            self.near.published = PublishedIndex(storage, index_dir(output, h.near_dup),
                                                 h.near_dup, {key}, tmp)  # fmt: skip
            self.index_rows = self.near.published.rows
            self.sigs = signature_rows(tmp / SIGNATURES)
            self.t["near_dup_load"] = time.perf_counter() - t0
        self.c: Counter = Counter()
        self.lang_out: Counter = Counter()
        self.pii: Counter = Counter()
        self.per_benchmark: Counter = Counter()
        self.examples: dict[str, list[dict[str, Any]]] = {}

    def _example(self, reason: str, row_id: str, detail: str, text: str) -> None:
        items = self.examples.setdefault(reason, [])
        if len(items) < EXAMPLES:
            items.append({"id": row_id, "detail": detail, "text": text[:300]})

    def _timed(self, name: str, fn, *args):
        t0 = time.perf_counter()
        try:
            return fn(*args)
        finally:
            self.t[name] += time.perf_counter() - t0

    def _source_reason(self, doc: dict[str, Any]) -> tuple[str, str] | None:
        h = self.cfg
        if self.decon and h.decontam.check_sources:
            hit = self._timed("decontam", self.decon.check, doc["text"])
            if hit:
                self.per_benchmark[hit.benchmark] += 1
                return "source_contaminated", hit.detail()
        if self.near is not None and h.near_dup.include_sources:
            sig = self._timed("near_dup", signature, doc["text"], h.near_dup)
            if sig is not None:
                twin = self._timed("near_dup", self.near.query, sig, "source")
                if twin:
                    return "source_near_duplicate", twin.detail(self.key)
                self.near.add(doc["id"], sig, self.key, "source")
                self.sigs.add(signature_row(doc["id"], "source", self.key, sig))
        return None

    def apply(self, doc: dict[str, Any], kept: list[dict[str, Any]]):
        """(rows kept, [(row, reason, detail)] dropped) for one source's cleaned rows.
        ``doc["lang"]``: the source's language, from its field or detected by the gate."""
        src_lang = doc.get("lang") or UNDETERMINED
        if not kept:
            return kept, []
        self.c["rewrites_checked"] += len(kept)
        flagged = self._source_reason(doc)
        if flagged:
            return [], [(row, *flagged) for row in kept]
        out, dropped = [], []
        for row in kept:
            why = self._row_reason(row, src_lang)
            if why:
                dropped.append((row, *why))
            else:
                out.append(row)
        return out, dropped

    def _row_reason(self, row: dict[str, Any], src_lang: str) -> tuple[str, str] | None:
        h, text = self.cfg, row["text"]
        if self.lang:
            got, detail = self._timed("language", self.lang.mismatch, src_lang, text)
            if detail:
                return "language_mismatch", detail
        if self.decon:
            hit = self._timed("decontam", self.decon.check, text)
            if hit:
                self.per_benchmark[hit.benchmark] += 1
                return "contaminated", hit.detail()
        if h.pii.enabled:
            new, counts = self._timed("pii", redact, text, h.pii.kinds)
            if counts:
                self.c[CHANGED] += 1
                self.pii.update(counts)
                detail = ", ".join(f"{k}={v}" for k, v in sorted(counts.items()))
                self._example(CHANGED, row["id"], detail, new)
                row["text"] = text = new
        if self.near is not None:
            sig = self._timed("near_dup", signature, text, h.near_dup)
            if sig is not None:
                twin = self._timed("near_dup", self.near.query, sig)
                if twin:
                    return "near_duplicate_corpus", twin.detail(self.key)
                self.near.add(row["id"], sig, self.key)
                self.sigs.add(signature_row(row["id"], "rewrite", self.key, sig))
        if self.lang:  # the output language mix counts what is kept
            self.lang_out[got.lang] += 1
        return None

    def changed(self) -> dict[str, int]:
        """Rows changed, not dropped, by reason (the funnel's ``changed``)."""
        return {CHANGED: self.c[CHANGED]} if self.c[CHANGED] else {}

    def close(self) -> list[Path]:
        """Local files to stage with the clean step's output."""
        if self.sigs is None:
            return []
        self.sigs.close()
        return [self.sigs.path]

    def stats(self) -> dict[str, Any]:
        h = self.cfg
        return {
            "enabled": {step: getattr(h, step).enabled for step in STEPS},
            "rewrites_checked": self.c["rewrites_checked"],
            "languages_out": dict(self.lang_out),
            "pii": dict(self.pii), "pii_examples": self.examples.get(CHANGED, []),
            "contaminated_by_benchmark": dict(self.per_benchmark),
            "benchmarks": ({"items": self.decon.items, "ngrams": self.decon.ngrams,
                            "n": h.decontam.ngram} if self.decon else {}),
            "near_dup_index_rows": self.index_rows,
            "seconds": {k: round(v, 4) for k, v in sorted(self.t.items())},
        }  # fmt: skip


def _share(part: float, whole: float) -> float:
    return round(part / whole, 6) if whole else 0.0


def gate_metrics(totals: dict[str, Any], cfg: HygieneConfig) -> dict[str, Metric]:
    """Shares of generated rewrites per hygiene reason, each with its profile threshold."""
    dropped, changed = totals.get("dropped") or {}, totals.get("changed") or {}
    gen = totals.get("generated") or 0
    metrics: dict[str, Metric] = {}
    if cfg.language.enabled:
        metrics["language_mismatch_share"] = Metric(
            _share(dropped.get("language_mismatch", 0), gen), cfg.language.max_mismatch_share, "<="
        )
    if cfg.near_dup.enabled:
        n = dropped.get("near_duplicate_corpus", 0) + dropped.get("source_near_duplicate", 0)
        metrics["near_duplicate_share"] = Metric(_share(n, gen), cfg.near_dup.max_share, "<=")
    if cfg.decontam.enabled:
        n = dropped.get("contaminated", 0) + dropped.get("source_contaminated", 0)
        metrics["contaminated_share"] = Metric(_share(n, gen), cfg.decontam.max_share, "<=")
    if cfg.pii.enabled:
        metrics["pii_row_share"] = Metric(
            _share(changed.get(CHANGED, 0), gen), cfg.pii.max_row_share, "<="
        )
    return metrics
