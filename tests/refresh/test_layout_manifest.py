"""Paths and the processed-shards manifest: keys depend on the shard URI alone, the
staging fingerprint on content and data settings only, and discovery's classification."""

from __future__ import annotations

import pytest

from maga.config import load_config
from maga.refresh.layout import data_settings, fingerprint, output_root, shard_key
from maga.refresh.manifest import classify, empty_manifest, load_manifest, update_manifest
from maga.storage import ObjectInfo, Storage


def test_shard_key_is_stable_safe_and_unique():
    src = "s3://bucket/corpus"
    k1 = shard_key(src, "s3://bucket/corpus/2024/part 01.jsonl.gz")
    assert k1 == shard_key(src, "s3://bucket/corpus/2024/part 01.jsonl.gz")
    assert k1.startswith("2024__part_01-") and "/" not in k1 and " " not in k1
    assert k1 != shard_key(src, "s3://bucket/corpus/2024/part 01.parquet")
    assert shard_key("/data/c.jsonl", "/data/c.jsonl").startswith("c-")


def test_fingerprint_follows_content_and_data_settings_only():
    cfg = load_config("tiny")
    base = fingerprint("etag1", data_settings(cfg, 1))
    assert base == fingerprint("etag1", data_settings(cfg, 1))
    assert base != fingerprint("etag2", data_settings(cfg, 1))
    assert base != fingerprint("etag1", data_settings(cfg, 2))
    for key, value in [
        ("refresh.chunk_docs", 7),
        ("generation.prompt_variant", "strict"),
        ("refresh.clean.min_chars", 3),
        ("refresh.hygiene.pii.enabled", False),
        ("refresh.hygiene.near_dup.threshold", 0.7),
    ]:
        assert base != fingerprint("etag1", data_settings(load_config("tiny", {key: value}), 1))
    for key, value in [
        ("refresh.shard_limit", 3),
        ("refresh.gates.min_kept_share", 0.9),
        ("refresh.output_uri", "elsewhere"),
        ("refresh.dry_run", True),
    ]:
        assert base == fingerprint("etag1", data_settings(load_config("tiny", {key: value}), 1))


def test_output_root_is_relative_to_storage_root():
    cfg = load_config("tiny", ["storage.root=s3://b/maga", "refresh.output_uri=corpus/x"])
    assert output_root(cfg) == "s3://b/maga/corpus/x"
    cfg = load_config("tiny", ["storage.root=s3://b/maga", "refresh.output_uri=s3://o/p/"])
    assert output_root(cfg) == "s3://o/p"


def test_classify_new_changed_unchanged_stale():
    infos = [
        ObjectInfo("s://a", 1, "e1"),
        ObjectInfo("s://b", 1, "e2"),
        ObjectInfo("s://c", 1, "e3"),
        ObjectInfo("s://d", 1, "e4"),
    ]
    manifest = {
        "shards": {
            "s://b": {"etag": "old"},
            "s://c": {"etag": "e3", "tool_model_version": 1},
            "s://d": {"etag": "e4", "tool_model_version": 2},
        }
    }
    status = {c.shard.uri: c.status for c in classify(infos, manifest, 2, False)}
    assert status == {
        "s://a": "new",
        "s://b": "changed",
        "s://c": "unchanged",
        "s://d": "unchanged",
    }
    status = {c.shard.uri: c.status for c in classify(infos, manifest, 2, True)}
    assert status["s://c"] == "stale" and status["s://d"] == "unchanged"


def test_manifest_round_trip_and_kind_check(tmp_path):
    storage, out = Storage(), str(tmp_path / "out")
    assert load_manifest(storage, out) == empty_manifest()
    update_manifest(storage, out, {"s://a": {"etag": "1"}}, "s://")
    update_manifest(storage, out, {"s://b": {"etag": "2"}}, "s://")
    assert set(load_manifest(storage, out)["shards"]) == {"s://a", "s://b"}
    storage.write_json(f"{out}/manifest.json", {"kind": "something-else"})
    with pytest.raises(ValueError, match="not a processed-shards manifest"):
        load_manifest(storage, out)
