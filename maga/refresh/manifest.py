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
error``) is retried on every run (*retry*): an error says nothing about the data. The
publish step is the only writer (the DAG runs one run at a time); every write is one
atomic put.

Storage form at scale. Rewriting one document on every publish costs O(all shards ever
processed): at 100,000 shards it is a 150 MiB put and ~1.4 GiB of memory per publish
(``maga bench-control-plane``). So while the manifest holds at most ``COMPACT_BELOW``
shards, ``manifest.json`` is rewritten whole (it is then the complete index, as
before); above that, a publish writes only its own entries as a delta,
``O/_manifest/<seq>.json``, and every ``COMPACT_EVERY``-th delta folds all of them into
``manifest.json`` (written first, with ``compacted_through`` = the last folded seq;
the folded deltas are deleted after, so a crash in between only leaves deltas that
loading skips). :func:`load_manifest` returns the index with newer deltas applied in
order, so readers see one manifest either way; read it through this module, not the
file.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from maga.log import get_logger
from maga.refresh.layout import manifest_uri
from maga.storage import ObjectInfo, Storage
from maga.storage.base import join_uri

log = get_logger("refresh.manifest")
SCHEMA_VERSION = 1
KIND = "maga-processed-shards"
DELTA_KIND = "maga-processed-shards-delta"
COMPACT_BELOW = 10_000  # shards: below this a publish rewrites manifest.json whole
COMPACT_EVERY = 16  # deltas: fold them into manifest.json at this many


def _delta_dir(output: str) -> str:
    return join_uri(output, "_manifest")


def _deltas(storage: Storage, output: str) -> list[tuple[int, str]]:
    """``(seq, uri)`` of the delta files, oldest first."""
    prefix = _delta_dir(output)
    if not storage.exists(prefix):
        return []
    out = []
    for info in storage.list(prefix, (".json",)):
        name = info.uri.rsplit("/", 1)[-1][: -len(".json")]
        if name.isdigit():
            out.append((int(name), info.uri))
    return sorted(out)


def empty_manifest() -> dict[str, Any]:
    return {"schema_version": SCHEMA_VERSION, "kind": KIND, "updated_at": None, "shards": {}}


def load_manifest(storage: Storage, output: str) -> dict[str, Any]:
    uri = manifest_uri(output)
    data = empty_manifest()
    if storage.exists(uri):
        data = storage.read_json(uri)
        if data.get("kind") != KIND:
            raise ValueError(
                f"{uri} is not a processed-shards manifest (kind={data.get('kind')!r})"
            )
    done = int(data.get("compacted_through") or 0)
    applied = False
    for seq, delta_uri in _deltas(storage, output):
        if seq <= done:
            continue  # folded in already (a compaction stopped before deleting it)
        delta = storage.read_json(delta_uri)
        if delta.get("kind") != DELTA_KIND:
            raise ValueError(f"{delta_uri} is not a processed-shards manifest delta")
        data["shards"].update(delta["entries"])
        data["source_uri"], data["updated_at"] = delta["source_uri"], delta["updated_at"]
        data["last_delta"], applied = seq, True
    if applied:
        data["shards"] = dict(sorted(data["shards"].items()))
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
    """Merge ``entries`` (keyed by source shard URI) into the manifest and write them:
    the whole index while it is small, else a delta (see the module's docstring)."""
    manifest = load_manifest(storage, output)
    manifest["shards"].update(entries)
    manifest["shards"] = dict(sorted(manifest["shards"].items()))
    manifest["source_uri"] = source
    manifest["updated_at"] = dt.datetime.now(dt.UTC).isoformat(timespec="seconds")
    deltas = _deltas(storage, output)
    last = max([int(manifest.pop("last_delta", 0) or 0), _through(manifest),
                *(s for s, _ in deltas)])  # fmt: skip
    form = "index"
    if len(manifest["shards"]) >= COMPACT_BELOW:
        seq = last + 1
        delta = {"kind": DELTA_KIND, "seq": seq, "entries": entries, "source_uri": source,
                 "updated_at": manifest["updated_at"]}  # fmt: skip
        storage.write_text(join_uri(_delta_dir(output), f"{seq:09d}.json"),
                           json.dumps(delta, ensure_ascii=False))  # fmt: skip
        last, form = seq, "delta"
        deltas.append((seq, ""))
    if form == "index" or len([s for s, _ in deltas if s > _through(manifest)]) >= COMPACT_EVERY:
        _write_index(storage, output, manifest, [s for s, _ in deltas], last)
        form = "index" if form == "index" else "delta, then compacted"
    log.info(
        "manifest %s: %d shards (%d updated; written as %s)",
        manifest_uri(output),
        len(manifest["shards"]),
        len(entries),
        form,
    )
    return manifest


def _write_index(storage: Storage, output: str, manifest: dict[str, Any], seqs: list[int],
                 last: int) -> None:  # fmt: skip
    """manifest.json first (naming the last delta it holds), then the deltas it folded."""
    manifest["compacted_through"] = last
    small = len(manifest["shards"]) < COMPACT_BELOW  # small: indented, for people
    storage.write_text(manifest_uri(output), json.dumps(manifest, ensure_ascii=False,
                                                        indent=2 if small else None))  # fmt: skip
    for seq in seqs:
        storage.delete(join_uri(_delta_dir(output), f"{seq:09d}.json"))


def compact_manifest(storage: Storage, output: str) -> dict[str, Any]:
    """Fold every delta into manifest.json now (publish does it every ``COMPACT_EVERY``)."""
    manifest = load_manifest(storage, output)
    seqs = [s for s, _ in _deltas(storage, output)]
    last = max([int(manifest.pop("last_delta", 0) or 0), _through(manifest), *seqs])
    _write_index(storage, output, manifest, seqs, last)
    return manifest


def _through(manifest: dict[str, Any]) -> int:
    return int(manifest.get("compacted_through") or 0)
