"""The manifest's storage form above ``COMPACT_BELOW`` shards: a delta per publish,
folded into manifest.json every ``COMPACT_EVERY`` deltas, one manifest to readers."""

import json

import pytest

from maga.refresh import manifest as m
from maga.storage import Storage


def entries(start: int, n: int, run: str) -> dict:
    return {
        f"s3://c/src/{i:05d}.jsonl": {
            "etag": f"e{i}",
            "key": f"k{i}",
            "status": "published",
            "rows": i,
            "run_id": run,
        }
        for i in range(start, start + n)
    }


@pytest.mark.timeout(60)
def test_deltas_above_the_threshold_then_compaction(tmp_path, monkeypatch):
    monkeypatch.setattr(m, "COMPACT_BELOW", 10)
    monkeypatch.setattr(m, "COMPACT_EVERY", 3)
    storage, out = Storage(), str(tmp_path / "o")
    index = tmp_path / "o" / "manifest.json"
    m.update_manifest(storage, out, entries(0, 6, "r1"), "s3://c/src")
    assert len(json.loads(index.read_text())["shards"]) == 6  # small: whole index
    m.update_manifest(storage, out, entries(6, 6, "r2"), "s3://c/src")  # 12 >= 10: a delta
    assert len(json.loads(index.read_text())["shards"]) == 6
    assert sorted(p.name for p in (tmp_path / "o" / "_manifest").iterdir()) == ["000000001.json"]
    m.update_manifest(storage, out, {**entries(0, 1, "r3"), **entries(12, 2, "r3")}, "s3://c/src")
    got = m.load_manifest(storage, out)
    assert len(got["shards"]) == 14 and list(got["shards"]) == sorted(got["shards"])
    assert got["shards"]["s3://c/src/00000.jsonl"]["run_id"] == "r3"  # newest delta wins
    assert got["shards"]["s3://c/src/00007.jsonl"]["run_id"] == "r2"
    last = m.update_manifest(storage, out, entries(14, 1, "r4"), "s3://c/src")  # 3rd delta
    on_disk = json.loads(index.read_text())
    assert len(on_disk["shards"]) == 15 and on_disk["compacted_through"] == 3
    assert not list((tmp_path / "o" / "_manifest").glob("*.json"))
    assert m.load_manifest(storage, out)["shards"] == last["shards"]


@pytest.mark.timeout(60)
def test_a_compaction_cut_short_leaves_deltas_that_loading_skips(tmp_path, monkeypatch):
    monkeypatch.setattr(m, "COMPACT_BELOW", 2)
    monkeypatch.setattr(m, "COMPACT_EVERY", 2)
    storage, out = Storage(), str(tmp_path / "o")
    m.update_manifest(storage, out, entries(0, 3, "r1"), "src")  # delta 1
    folded = m.update_manifest(storage, out, entries(0, 1, "r2"), "src")  # delta 2: compacted
    # as if the process died after writing manifest.json, before deleting the deltas:
    stale = {"kind": m.DELTA_KIND, "seq": 1, "entries": entries(0, 3, "r1"),
             "source_uri": "src", "updated_at": "then"}  # fmt: skip
    storage.write_text(str(tmp_path / "o" / "_manifest" / "000000001.json"), json.dumps(stale))
    again = m.load_manifest(storage, out)
    assert again["shards"] == folded["shards"]
    assert again["shards"]["s3://c/src/00000.jsonl"]["run_id"] == "r2"
    storage.write_text(str(tmp_path / "o" / "_manifest" / "000000009.json"), '{"kind": "x"}')
    with pytest.raises(ValueError, match="delta"):
        m.load_manifest(storage, out)


@pytest.mark.timeout(60)
def test_compact_manifest_folds_every_delta(tmp_path, monkeypatch):
    monkeypatch.setattr(m, "COMPACT_BELOW", 1)
    storage, out = Storage(), str(tmp_path / "o")
    for r in range(3):
        m.update_manifest(storage, out, entries(r * 2, 2, f"r{r}"), "src")
    assert len(list((tmp_path / "o" / "_manifest").glob("*.json"))) == 3
    before = m.load_manifest(storage, out)["shards"]
    m.compact_manifest(storage, out)
    assert not list((tmp_path / "o" / "_manifest").glob("*.json"))
    on_disk = json.loads((tmp_path / "o" / "manifest.json").read_text())
    assert on_disk["shards"] == before and on_disk["compacted_through"] == 3
    m.update_manifest(storage, out, entries(9, 1, "r9"), "src")  # numbering goes on
    assert [p.name for p in (tmp_path / "o" / "_manifest").glob("*.json")] == ["000000004.json"]
