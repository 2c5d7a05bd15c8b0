"""Step 2: gate the input of one shard.

Streams the shard once. Each record is checked with the corpus reader's rules (JSON
object, id and text present, text is a non-empty string; invalid UTF-8 lines) plus
encoding (no lone surrogates), text length bounds and id uniqueness within the shard.
A record without a language field gets the language py3langid detects (``und``: too
short to tell), so the input language mix is known.
Bad records are quarantined with their reason; good ones are written to staging in
chunks of ``refresh.chunk_docs`` documents, the unit every later step works in. The
gate then stops the shard when more than ``refresh.bad_record_max_share`` is bad.
The scan is staged; the verdict is recomputed from its counts on every run.
"""

from __future__ import annotations

import hashlib
import json
import tempfile
from collections import Counter
from pathlib import Path
from typing import Any

from maga.corpus.reader import Quarantined, validate_record
from maga.hygiene.language import LanguageId
from maga.jsonl import write_jsonl
from maga.log import get_logger
from maga.refresh.gates import gate_input
from maga.refresh.layout import ShardPaths, shard_paths
from maga.refresh.source import ShardSchemaError, iter_shard, record_id
from maga.runs.context import RunContext
from maga.runs.stage import ShardStep, ShardWork, run_shard_step

log = get_logger("refresh.gate")
EXAMPLES = 3


def _encodable(text: str) -> bool:
    try:
        text.encode("utf-8")
        return True
    except UnicodeEncodeError:
        return False


def _check(row: Any, ctx: RunContext, where: str, seen: set[bytes]) -> dict | Quarantined:
    cfg = ctx.config
    rec = validate_record(row, cfg.corpus, where)
    if isinstance(rec, Quarantined):
        return rec
    r = cfg.refresh
    if not _encodable(rec.text) or not _encodable(rec.id):
        return Quarantined(where, rec.id, "invalid_unicode", "lone surrogate in id or text")
    if len(rec.text) < r.min_doc_chars:
        return Quarantined(where, rec.id, "text_too_short", f"{len(rec.text)} < {r.min_doc_chars}")
    if len(rec.text) > r.max_doc_chars:
        return Quarantined(where, rec.id, "text_too_long", f"{len(rec.text)} > {r.max_doc_chars}")
    digest = hashlib.blake2b(rec.id.encode(), digest_size=12).digest()
    if digest in seen:
        return Quarantined(where, rec.id, "duplicate_id", "id seen earlier in this shard")
    seen.add(digest)
    return {"id": rec.id, "text": rec.text, "lang": rec.lang}


def scan_shard(ctx: RunContext, shard: dict[str, Any], paths: ShardPaths) -> dict[str, Any]:
    """Validate every record; write accepted chunks and the quarantine file to staging."""
    storage, chunk_docs = ctx.storage, ctx.config.refresh.chunk_docs
    reasons: Counter = Counter()
    langs: Counter = Counter()
    examples: dict[str, list] = {}
    seen: set[bytes] = set()
    chunk: list[dict] = []
    n_chunks = records = accepted = 0
    schema_error = ""
    lang_cfg = ctx.config.refresh.hygiene.language
    ident = LanguageId(lang_cfg) if lang_cfg.enabled else None
    with tempfile.TemporaryDirectory(prefix="maga-gate-") as tmp:
        qpath = Path(tmp) / "quarantine.jsonl"
        with qpath.open("w", encoding="utf-8") as qfh:
            try:
                for n, row in iter_shard(storage, shard["uri"], ctx.config.corpus):
                    records += 1
                    where = f"{shard['uri']}:{n}"
                    if isinstance(row, tuple):
                        rid = record_id(row, ctx.config.corpus.id_field)
                        detail = row[1] if rid is None else f"{row[1]} (id read with U+FFFD)"
                        out: dict | Quarantined = Quarantined(where, rid, row[0], detail)
                    else:
                        out = _check(row, ctx, where, seen)
                    if isinstance(out, Quarantined):
                        reasons[out.reason] += 1
                        item = {**out.as_dict(), "record": n}
                        qfh.write(json.dumps(item, ensure_ascii=False) + "\n")
                        if len(examples.setdefault(out.reason, [])) < EXAMPLES:
                            examples[out.reason].append(item)
                        continue
                    accepted += 1
                    if ident:  # the record's language field, or detected
                        out["lang"] = ident.source_lang(out["text"], out["lang"])
                    langs[out["lang"] or "unknown"] += 1
                    chunk.append({**out, "record": n})
                    if len(chunk) == chunk_docs:
                        write_jsonl(storage, paths.chunk("input", n_chunks), chunk)
                        n_chunks, chunk = n_chunks + 1, []
            except ShardSchemaError as exc:
                schema_error = str(exc)
            if chunk:
                write_jsonl(storage, paths.chunk("input", n_chunks), chunk)
                n_chunks += 1
        storage.put_file(qpath, paths.stage("gate", "quarantine.jsonl"))
    return {
        "records": records, "accepted": accepted, "quarantined": sum(reasons.values()),
        "quarantine_reasons": dict(sorted(reasons.items())), "quarantine_examples": examples,
        "chunks": n_chunks, "chunk_docs": chunk_docs, "schema_error": schema_error,
        "languages": dict(sorted(langs.items())),
    }  # fmt: skip


def _check_gate(w: ShardWork, stats: dict[str, Any]) -> Any:
    result = gate_input(stats, w.ctx.config.refresh, w.shard["key"], w.shard["uri"])
    log.info("gate %s: %d records, %d accepted, quarantined %s -> %s", w.shard["key"],
             stats["records"], stats["accepted"], stats["quarantine_reasons"],
             "ok" if result.passed else "stopped")  # fmt: skip
    return result


GATE = ShardStep("gate", needs=(), work=lambda w: scan_shard(w.ctx, w.shard, w.paths),
                 check=_check_gate)  # fmt: skip


def gate_shard(ctx: RunContext, shard: dict[str, Any]) -> dict[str, Any]:
    """Scan (once per shard content) and gate one shard; raises GateFailed to stop it."""
    return run_shard_step(ctx, shard, GATE, shard_paths(ctx.config, shard))
