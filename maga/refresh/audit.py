"""Is every source record accounted for in the output location?

For each source shard, every record (as the refresh reads them: one non-blank JSONL
line, or one Parquet row, numbered from 1) must be either *published* (a published row
names its document as ``source_id``) or *rejected with a reason* (a row of
``rejects/<key>.parquet`` for its record number, without a rewrite id: the input gate's
reason, ``shard_stopped``/``shard_failed`` for a rejected shard, or why the document got
no output). Anything else is *unaccounted*, listed by shard, record number and id (an
invalid UTF-8 line's id is read with replacement characters) with why:

* ``not_processed``: the shard is not in the processed-shards manifest (new, or waiting
  for a later run);
* ``output_of_older_version``: the manifest holds another content hash of the shard;
* ``output_missing``: the manifest names a file that is not there;
* ``missing``: the shard was processed but this record is in neither place.

``maga audit OUTPUT --source SOURCE`` prints the counts and exits non-zero when anything
is unaccounted; the corpus refresh audits its own shards at the end of every run.
"""

from __future__ import annotations

import tempfile
from collections import Counter
from pathlib import Path
from typing import Any

from maga.config import CorpusConfig
from maga.corpus.reader import list_shards
from maga.log import get_logger
from maga.refresh.layout import ShardPaths
from maga.refresh.manifest import load_manifest
from maga.refresh.source import ShardSchemaError, iter_shard, record_id
from maga.storage import Storage

log = get_logger("refresh.audit")
MAX_LISTED = 1000  # unaccounted records listed in full; all are counted


def _column_rows(storage: Storage, uri: str, columns: list[str], tmp: str) -> list[dict]:
    import pyarrow.parquet as pq

    local = storage.get_file(uri, Path(tmp) / uri.rsplit("/", 1)[-1])
    pf = pq.ParquetFile(local)
    cols = [c for c in columns if c in pf.schema_arrow.names]
    return pq.read_table(local, columns=cols).to_pylist()


def _accounted(storage: Storage, output: str, entry: dict[str, Any]) -> tuple[dict, set, str]:
    """(record -> (reason, id) rejected, published record numbers, problem)."""
    paths = ShardPaths(output, entry["key"], "")
    rejected: dict[int, tuple[str, str | None]] = {}
    published: set[int] = set()
    with tempfile.TemporaryDirectory(prefix="maga-audit-") as tmp:
        if storage.exists(paths.rejects):
            cols = ["record", "source_id", "rewrite_id", "reason"]
            for r in _column_rows(storage, paths.rejects, cols, tmp):
                if r.get("rewrite_id") is None and r.get("record") is not None and r["reason"]:
                    rejected.setdefault(int(r["record"]), (r["reason"], r.get("source_id")))
        elif entry.get("status") == "rejected":
            return rejected, published, "output_missing"
        if entry.get("status") == "published":
            if not (storage.exists(paths.data) and storage.exists(paths.source)):
                return rejected, published, "output_missing"
            out_ids = {r["source_id"] for r in _column_rows(storage, paths.data,
                                                             ["source_id"], tmp)}  # fmt: skip
            for r in _column_rows(storage, paths.source, ["id", "record"], tmp):
                if r["id"] in out_ids:
                    published.add(int(r["record"]))
    return rejected, published, ""


def audit_shard(
    storage: Storage, output: str, uri: str, etag: str, entry: dict | None, corpus: CorpusConfig
) -> dict[str, Any]:
    """One shard's figures and its unaccounted records."""
    rejected: dict[int, tuple[str, str | None]] = {}
    published: set[int] = set()
    if entry is None:
        problem = "not_processed"
    elif entry.get("etag") != etag:
        problem = "output_of_older_version"
    else:
        rejected, published, problem = _accounted(storage, output, entry)
    reasons: Counter = Counter()
    unaccounted: list[dict[str, Any]] = []
    records = n_published = 0
    status = (entry or {}).get("status")
    try:
        for n, row in iter_shard(storage, uri, corpus):
            records += 1
            if n in published:
                n_published += 1
            elif n in rejected:
                reasons[rejected[n][0]] += 1
            else:
                unaccounted.append({"shard": uri, "record": n,
                                    "id": record_id(row, corpus.id_field),
                                    "why": problem or "missing"})  # fmt: skip
    except ShardSchemaError as exc:
        # no records can be named; accounted for only as a shard the manifest rejects
        if status != "rejected" or problem:
            unaccounted.append({"shard": uri, "record": None, "id": None,
                                "why": f"unreadable shard: {exc}"})  # fmt: skip
        else:
            reasons["unreadable_shard"] += 1
    return {
        "uri": uri, "key": (entry or {}).get("key"), "status": status or "not_processed",
        "records": records, "published": n_published, "rejected": sum(reasons.values()),
        "reasons": dict(sorted(reasons.items())), "unaccounted": len(unaccounted),
        "unaccounted_records": unaccounted,
    }  # fmt: skip


def audit(
    storage: Storage,
    output: str,
    source: str,
    corpus: CorpusConfig,
    shards: list[str] | None = None,
    max_listed: int = MAX_LISTED,
) -> dict[str, Any]:
    """Audit ``output`` against every shard of ``source`` (or only ``shards``, URIs)."""
    output, source = output.rstrip("/"), source.rstrip("/")
    listed = list_shards(corpus.model_copy(update={"uri": source}), storage)
    if shards is not None:
        wanted = set(shards)
        listed = [s for s in listed if s.uri in wanted]
    manifest = load_manifest(storage, output)["shards"]
    per_shard = [audit_shard(storage, output, s.uri, s.etag, manifest.get(s.uri), corpus)
                 for s in listed]  # fmt: skip
    reasons: Counter = Counter()
    why: Counter = Counter()
    unaccounted: list[dict[str, Any]] = []
    for s in per_shard:
        reasons.update(s["reasons"])
        why.update(r["why"] for r in s["unaccounted_records"])
        unaccounted += s.pop("unaccounted_records")
    result = {
        "output": output, "source": source, "shards": len(per_shard),
        "records": sum(s["records"] for s in per_shard),
        "published": sum(s["published"] for s in per_shard),
        "rejected": sum(s["rejected"] for s in per_shard),
        "unaccounted": len(unaccounted), "rejected_by_reason": dict(sorted(reasons.items())),
        "unaccounted_by_why": dict(sorted(why.items())),
        "unaccounted_records": unaccounted[:max_listed], "per_shard": per_shard,
    }  # fmt: skip
    log.info(
        "audit %s: %d records in %d shard(s): %d published, %d rejected, %d unaccounted",
        output,
        result["records"],
        result["shards"],
        result["published"],
        result["rejected"],
        result["unaccounted"],
    )
    return result


def render_audit(result: dict[str, Any]) -> str:
    """The audit for people: totals, counts by reason, then every unaccounted record."""
    lines = [
        f"audit of {result['output']} against {result['source']}: {result['records']} records "
        f"in {result['shards']} shard(s): {result['published']} published, "
        f"{result['rejected']} rejected with a reason, {result['unaccounted']} unaccounted",
    ]
    for reason, n in sorted(result["rejected_by_reason"].items(), key=lambda kv: -kv[1]):
        lines.append(f"  rejected {reason}: {n}")
    for why, n in sorted(result["unaccounted_by_why"].items(), key=lambda kv: -kv[1]):
        lines.append(f"  UNACCOUNTED {why}: {n}")
    for r in result["unaccounted_records"]:
        lines.append(f"  unaccounted {r['shard']} record {r['record']} id {r['id']!r}: {r['why']}")
    if result["unaccounted"] > len(result["unaccounted_records"]):
        lines.append(f"  ... {result['unaccounted'] - len(result['unaccounted_records'])} more")
    return "\n".join(lines)
