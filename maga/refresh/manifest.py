"""The processed-shards manifest: which source shard (URI + content hash) has been
processed, with which tool models, and where its output is.

``O/manifest.json``::

    {"schema_version": 1, "kind": "maga-processed-shards", "updated_at": ...,
     "shards": {"<source shard URI>": {"etag": ..., "key": ..., "status": "published"
                 | "rejected", "output": ..., "rejects": ..., "rows": ..., "run_id": ...,
                 "tool_model_version": ..., "prompt_variant": ..., "stats": {...}}}}

A shard whose URI is absent is *new*; present with another etag, *changed*; present with
the same etag, *unchanged* (skipped), unless it is *stale*: made with an older tool-model
version while ``refresh.redo_on_new_tool_models`` is on, published in another output
mode, or made with other data settings (``settings_digest``: prompt templates, output
schemas, generation and cleaning settings; see ``maga.refresh.layout.data_settings``).
Entries written before the digest existed have none and are not redone for it.

A *rejected* entry (stopped by a gate, or by a task error, at ``step``; ``gate`` names
the gate, ``reason`` says why, and ``fingerprint`` is the shard's content hash plus data
settings it was processed with) is retried only when its content changes (*changed*),
when the tool models or the data settings change (*stale*), or when the user asks
(``refresh.retry_rejected``: *retry*). One stopped by a task error (``stopped_by:
error``) is retried on every run (*retry*): an error says nothing about the data. The file is written in
one atomic put by the publish step, the only writer (the DAG runs one run at a time).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from maga.log import get_logger
from maga.refresh.layout import manifest_uri
from maga.storage import ObjectInfo, Storage

log = get_logger("refresh.manifest")
SCHEMA_VERSION = 1
KIND = "maga-processed-shards"


def empty_manifest() -> dict[str, Any]:
    return {"schema_version": SCHEMA_VERSION, "kind": KIND, "updated_at": None, "shards": {}}


def load_manifest(storage: Storage, output: str) -> dict[str, Any]:
    uri = manifest_uri(output)
    if not storage.exists(uri):
        return empty_manifest()
    data = storage.read_json(uri)
    if data.get("kind") != KIND:
        raise ValueError(f"{uri} is not a processed-shards manifest (kind={data.get('kind')!r})")
    return data


@dataclass(frozen=True)
class Classified:
    shard: ObjectInfo
    status: str  # new | changed | stale | retry | unchanged


def _stale(
    entry: dict[str, Any], version: int, redo_older: bool, output_mode: str, digest: str | None
) -> bool:
    """Made with an older tool-model version (when redoing those), with other data
    settings, or published in another output mode."""
    if redo_older and int(entry.get("tool_model_version") or 0) < version:
        return True
    made_with = entry.get("settings_digest")
    if digest and made_with and made_with != digest:
        return True
    mode = entry.get("output_mode", "documents")
    return entry.get("status") == "published" and mode != output_mode


def _rejected_status(
    entry: dict[str, Any], version: int, fp: str | None, retry_rejected: bool
) -> str:
    if retry_rejected or entry.get("stopped_by") == "error":
        return "retry"
    if int(entry.get("tool_model_version") or 0) != version:
        return "stale"  # other tool models may pass the gate that stopped it
    if fp is not None and entry.get("fingerprint") not in (None, fp):
        return "stale"  # other data settings
    return "unchanged"


def classify(
    shards: list[ObjectInfo],
    manifest: dict[str, Any],
    version: int,
    redo_older: bool,
    output_mode: str = "documents",
    settings_digest: str | None = None,
    *,
    fingerprint_of: Callable[[str], str] | None = None,
    retry_rejected: bool = False,
) -> list[Classified]:
    """``fingerprint_of``: a shard's etag -> its fingerprint under this run's data
    settings (for rejected shards); ``retry_rejected``: retry every rejected shard."""
    done = manifest.get("shards", {})
    out = []
    for info in shards:
        entry = done.get(info.uri)
        if entry is None:
            status = "new"
        elif entry.get("etag") != info.etag:
            status = "changed"
        elif entry.get("status") == "rejected":
            fp = fingerprint_of(info.etag) if fingerprint_of else None
            status = _rejected_status(entry, version, fp, retry_rejected)
        elif _stale(entry, version, redo_older, output_mode, settings_digest):
            status = "stale"
        else:
            status = "unchanged"
        out.append(Classified(info, status))
    return out


def update_manifest(
    storage: Storage, output: str, entries: dict[str, dict[str, Any]], source: str
) -> dict[str, Any]:
    """Merge ``entries`` (keyed by source shard URI) into the manifest and write it."""
    manifest = load_manifest(storage, output)
    manifest["shards"].update(entries)
    manifest["shards"] = dict(sorted(manifest["shards"].items()))
    manifest["source_uri"] = source
    manifest["updated_at"] = dt.datetime.now(dt.UTC).isoformat(timespec="seconds")
    storage.write_json(manifest_uri(output), manifest)
    log.info(
        "manifest %s: %d shards (%d updated)",
        manifest_uri(output),
        len(manifest["shards"]),
        len(entries),
    )
    return manifest
