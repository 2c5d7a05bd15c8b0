import gzip
import json

import pandas as pd
import pytest

from maga.config import CorpusConfig
from maga.corpus.reader import CorpusError, iter_records, list_shards
from maga.storage import Storage


def read(folder, **kw):
    cfg = CorpusConfig(uri=str(folder), **kw)
    quarantine = []
    records = list(iter_records(cfg, Storage(), quarantine))
    return records, quarantine


def test_reads_jsonl_gz_and_parquet_with_custom_fields(tmp_path):
    (tmp_path / "a.jsonl").write_text(json.dumps({"doc": "a1", "body": "alpha"}) + "\n")
    with gzip.open(tmp_path / "b.jsonl.gz", "wt") as fh:
        fh.write(json.dumps({"doc": "b1", "body": "beta"}) + "\n")
    pd.DataFrame([{"doc": "c1", "body": "gamma"}]).to_parquet(tmp_path / "c.parquet")
    (tmp_path / "notes.txt").write_text("ignored")
    records, quarantine = read(tmp_path, id_field="doc", text_field="body")
    assert [r.id for r in records] == ["a1", "b1", "c1"]
    assert [r.text for r in records] == ["alpha", "beta", "gamma"]
    assert quarantine == []


def test_bad_records_are_quarantined_with_file_line_and_reason(tmp_path):
    lines = [
        json.dumps({"id": "ok", "text": "fine"}).encode(),
        b"{not json",
        json.dumps({"id": "x"}).encode(),
        json.dumps({"id": "e", "text": "   "}).encode(),
        json.dumps({"id": "n", "text": 5}).encode(),
        b'{"id": "bad", "text": "caf\xe9"}',
        json.dumps({"id": "ok", "text": "again"}).encode(),
    ]
    (tmp_path / "s.jsonl").write_bytes(b"\n".join(lines) + b"\n")
    records, quarantine = read(tmp_path)
    assert [r.id for r in records] == ["ok"]
    reasons = [(q.source.rsplit(":", 1)[1], q.reason) for q in quarantine]
    assert reasons == [
        ("2", "malformed_json"),
        ("3", "missing_field"),
        ("4", "empty_text"),
        ("5", "not_text"),
        ("6", "invalid_utf8"),
        ("7", "duplicate_id"),
    ]
    assert all(q.source.startswith(str(tmp_path / "s.jsonl")) for q in quarantine)


def test_missing_location_and_wrong_formats_raise_clear_errors(tmp_path):
    with pytest.raises(CorpusError, match="not found"):
        list_shards(CorpusConfig(uri=str(tmp_path / "nope")), Storage())
    (tmp_path / "data.csv").write_text("id,text\n")
    with pytest.raises(CorpusError, match=r"no \.jsonl.*data\.csv"):
        list_shards(CorpusConfig(uri=str(tmp_path)), Storage())


def test_builtin_corpus_is_stable_and_multilingual():
    cfg = CorpusConfig(uri="builtin://wiki-summaries", languages=["en", "fr"], limit=50)
    records = list(iter_records(cfg, Storage(), []))
    assert len(records) == 50
    assert records == list(iter_records(cfg, Storage(), []))
    cfg = CorpusConfig(uri="builtin://wiki-summaries", languages=["fr"], limit=5)
    assert {r.lang for r in iter_records(cfg, Storage(), [])} == {"fr"}
