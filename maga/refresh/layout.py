"""Where everything of the corpus refresh lives.

Output location ``O`` (``refresh.output_uri``; relative paths sit under storage.root)::

    O/data/<key>.parquet       published rows of one source shard, in the run's output mode
    O/generations/<key>.parquet  megadoc modes: the kept generations the megadocs are made of
    O/source/<key>.parquet     the shard's accepted source documents (real data for mixes)
    O/rejects/<key>.parquet    rejected input records and dropped rewrites, with reasons
    O/mixes/<recipe>.json      training-mix manifests (and ``.hf.json`` datasets recipes)
    O/dedup/minhash-<params>/<key>.parquet  near-duplicate index (maga.hygiene.neardup)
    O/dedup/lsh-<params>-b<b>r<r>/          its LSH band keys (maga.hygiene.bandindex)
    O/dedup/decontam/<bench>-<digest>.npy   benchmark n-gram hashes (maga.hygiene.decontam)
    O/manifest.json            processed-shards manifest (source URI -> content hash)
    O/README.md                dataset card
    O/_staging/<key>/<fp>/     work area of one shard: chunks, stage markers, stats

``<key>`` is a function of the shard URI alone, so a rerun or a changed shard writes the
same paths (replacing, never adding). ``<fp>`` fingerprints the shard's content hash and
every setting that changes the generated data, so staged chunks are only ever reused
for the same input and settings. Names starting with ``_`` are hidden from listings.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass
from typing import Any

from maga.config import MagaConfig
from maga.corpus.reader import SUFFIXES
from maga.operations import GA, JUDGE, JUDGE_RATIONALE, RATIONALE, REWRITE
from maga.prompts.render import templates_digest
from maga.runs.context import resolve_root
from maga.storage import is_s3, join_uri

STAGING = "_staging"
# Settings that only schedule or present a run; changing them keeps staged work valid.
_NOT_DATA = {"source_uri", "output_uri", "cron", "shard_limit", "dry_run", "model_queue",
             "model_pool", "progress_every_s", "tool_model_version", "redo_on_new_tool_models",
             "retry_rejected", "gates", "validate_max_rows", "review"}  # fmt: skip


# Versions of the code rules that decide what a shard keeps, in the fingerprint beside their
# settings (refresh.clean, refresh.hygiene): bump one when a rule changes what it drops,
# strips or redacts, so published shards are reprocessed under the new rule.
# clean: maga/refresh/clean.py, maga/text.py; hygiene: maga/hygiene/ (language, decontam,
# pii, neardup, shard).
RULES_VERSIONS = {"clean": 1, "hygiene": 1}


def output_root(cfg: MagaConfig) -> str:
    uri = cfg.refresh.output_uri
    if is_s3(uri) or uri.startswith("/") or uri.startswith("file://"):
        return uri.rstrip("/")
    return join_uri(resolve_root(cfg.storage.root), uri)


def source_root(cfg: MagaConfig) -> str:
    uri = cfg.refresh.source_uri or cfg.corpus.uri
    return uri.rstrip("/")


def shard_key(source: str, uri: str) -> str:
    """A short, path-safe, stable name for a shard: its path below the source plus a
    hash of its full URI (two shards never share a key)."""
    rel = uri[len(source) :].strip("/") if uri.startswith(source + "/") else uri.rsplit("/", 1)[-1]
    for suffix in sorted(SUFFIXES, key=len, reverse=True):
        if rel.endswith(suffix):
            rel = rel[: -len(suffix)]
            break
    safe = re.sub(r"[^A-Za-z0-9._-]+", "_", rel.replace("/", "__")).strip("._") or "shard"
    digest = hashlib.sha1(uri.encode()).hexdigest()[:8]
    return f"{safe[:100]}-{digest}"


def refresh_templates(cfg: MagaConfig) -> list[str]:
    """The prompt templates a corpus refresh with these settings renders: those of the
    operations it runs (GA, rewrite and judge; rationale and its judge in ``stretch``)."""
    ops = [GA, REWRITE, JUDGE]
    if cfg.refresh.output_mode == "stretch":
        ops += [RATIONALE, JUDGE_RATIONALE]
    return list(dict.fromkeys(name for op in ops for name in op.templates(cfg)))


def prompt_settings(cfg: MagaConfig) -> dict[str, str]:
    """The prompt text and the output schemas, hashed: editing a template or a schema
    changes what the models write, so it must change the fingerprint too."""
    schemas = [GA.schema(cfg), JUDGE.schema(cfg)]
    blob = json.dumps(schemas, sort_keys=True).encode()
    return {
        "templates": templates_digest(refresh_templates(cfg)),
        "schemas": hashlib.sha256(blob).hexdigest()[:16],
    }


def data_settings(cfg: MagaConfig, tool_model_version: int) -> dict[str, Any]:
    """Everything that changes what a shard's processing produces."""
    refresh = {k: v for k, v in cfg.refresh.model_dump().items() if k not in _NOT_DATA}
    refresh["hygiene"].pop("cost_plan", None)  # estimates a run, changes no data
    return {
        "tool_model_version": tool_model_version,
        "prompts": prompt_settings(cfg),
        "corpus_fields": [cfg.corpus.id_field, cfg.corpus.text_field, cfg.corpus.lang_field],
        "generation": cfg.generation.model_dump(),
        "sampling": [cfg.teacher.temperature, cfg.teacher.top_p, cfg.teacher.seed],
        "student_engine": cfg.student_engine.max_model_len,
        "judge": cfg.judge.model_dump(),
        "teacher": cfg.teacher.path if cfg.refresh.judge == "teacher" else None,
        "refresh": refresh,
        "rules": dict(RULES_VERSIONS),
    }


def fingerprint(etag: str, settings: dict[str, Any]) -> str:
    blob = json.dumps([etag, settings], sort_keys=True, default=str).encode()
    return hashlib.sha256(blob).hexdigest()[:16]


def settings_digest(settings: dict[str, Any]) -> str:
    """The data settings without the tool-model version, which the manifest keeps on its
    own (``refresh.redo_on_new_tool_models`` decides about older versions)."""
    return fingerprint("", {k: v for k, v in settings.items() if k != "tool_model_version"})


@dataclass(frozen=True)
class ShardPaths:
    """URIs of one shard's published files and its staging area."""

    output: str
    key: str
    fp: str

    @property
    def data(self) -> str:
        return join_uri(self.output, "data", f"{self.key}.parquet")

    @property
    def generations(self) -> str:
        return join_uri(self.output, "generations", f"{self.key}.parquet")

    @property
    def source(self) -> str:
        return join_uri(self.output, "source", f"{self.key}.parquet")

    @property
    def rejects(self) -> str:
        return join_uri(self.output, "rejects", f"{self.key}.parquet")

    @property
    def staging_root(self) -> str:
        return join_uri(self.output, STAGING, self.key)

    @property
    def staging(self) -> str:
        return join_uri(self.staging_root, self.fp)

    def stage(self, *parts: str) -> str:
        return join_uri(self.staging, *parts)

    def chunk(self, kind: str, index: int) -> str:
        """``kind``: input (accepted records), ga (pairs), gen (rewrites)."""
        ext = "jsonl" if kind == "input" else "json"
        return join_uri(self.staging, kind, f"chunk-{index:05d}.{ext}")

    def marker(self, stage: str) -> str:
        return join_uri(self.staging, stage, "_SUCCESS")

    def stats(self, stage: str) -> str:
        return join_uri(self.staging, stage, "stats.json")


def shard_paths(cfg: MagaConfig, shard: dict[str, Any]) -> ShardPaths:
    return ShardPaths(output_root(cfg), shard["key"], shard["fingerprint"])


def manifest_uri(output: str) -> str:
    return join_uri(output, "manifest.json")


def card_uri(output: str) -> str:
    return join_uri(output, "README.md")
