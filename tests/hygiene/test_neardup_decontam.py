"""MinHash-LSH near-duplicates and n-gram decontamination on real text with known answers."""

import gzip
import json

import pytest

from maga.config import BenchmarkSource, DecontamConfig, NearDupConfig, StorageConfig
from maga.hygiene.decontam import BenchmarkError, Decontaminator
from maga.hygiene.neardup import NearDupIndex, signature, signature_row, signature_rows
from maga.storage import Storage
from tests.hygiene.crafted import benchmark_file, near_copy, wiki

pytestmark = pytest.mark.timeout(60)


def test_near_duplicates_found_with_twin_and_distinct_texts_kept():
    cfg = NearDupConfig()  # threshold 0.8
    originals = wiki("en", 30)
    idx = NearDupIndex(cfg)
    for i, text in enumerate(originals):
        sig = signature(text, cfg)
        assert idx.query(sig) is None, f"distinct summary {i} flagged"
        idx.add(f"orig-{i}", sig, "shard-a")
    for i in (0, 7, 21):
        twin = idx.query(signature(near_copy(originals[i]), cfg))
        assert twin is not None and twin.id == f"orig-{i}" and twin.shard == "shard-a"
        assert 0.8 <= twin.similarity < 1.0
        assert "shard shard-a" in twin.detail("shard-b") and "this shard" in twin.detail("shard-a")
    for text in wiki("en", 20, skip=30):  # unseen summaries are not duplicates
        assert idx.query(signature(text, cfg)) is None
    assert signature("  ...  ", cfg) is None


def test_index_round_trip_and_kinds(tmp_path):
    cfg = NearDupConfig()
    texts = wiki("fr", 5)
    rows = signature_rows(tmp_path / "k.parquet")
    for i, t in enumerate(texts):
        rows.add(signature_row(f"r{i}", "rewrite", "k", signature(t, cfg)))
    rows.add(signature_row("s0", "source", "k", signature(texts[0], cfg)))
    rows.close()
    storage = Storage(StorageConfig())
    idx = NearDupIndex(cfg)
    assert idx.load(storage, str(tmp_path)) == 6
    assert idx.query(signature(texts[3], cfg)).id == "r3"
    assert idx.query(signature(texts[0], cfg), "source").id == "s0"
    assert idx.query(signature(texts[1], cfg), "source") is None
    assert NearDupIndex(cfg).load(storage, str(tmp_path), exclude={"k"}) == 0
    with pytest.raises(ValueError, match="expected 64"):
        NearDupIndex(NearDupConfig(num_perm=64)).load(storage, str(tmp_path))


QUESTION = ("Which river flows through the capital city of the country and empties into the "
            "sea after a journey of many hundred kilometres?")  # fmt: skip


def test_decontamination_names_benchmark_and_ngram(tmp_path):
    path = benchmark_file(tmp_path, [QUESTION, "Too short to ever match."])
    txt = tmp_path / "other.txt"
    txt.write_text("The quick brown fox jumps over the lazy dog while the cat sleeps on the mat "
                   "near the door\n")  # fmt: skip
    cfg = DecontamConfig(benchmarks=[BenchmarkSource(name="qa", uri=str(path), fields=["question"]),
                                     BenchmarkSource(name="fox", uri=str(txt))])  # fmt: skip
    dec = Decontaminator(cfg, Storage(StorageConfig()))
    assert dec.items == {"qa": 2, "fox": 1}
    clean = wiki("en", 20)
    assert [dec.check(t) for t in clean] == [None] * 20
    # a rewrite that quotes 13 consecutive words of the question (different case/punctuation)
    leaked = (
        clean[0]
        + " Quiz: which RIVER flows through the capital city, of the country and empties into!"
    )
    hit = dec.check(leaked)
    assert hit.benchmark == "qa"
    assert hit.ngram == "which river flows through the capital city of the country and empties into"
    # 12 consecutive words are not enough at n=13
    assert (
        dec.check("which river flows through the capital city of the country and empties") is None
    )
    assert dec.check("Yesterday the quick brown fox jumps over the lazy dog while the cat sleeps "
                     "on it").benchmark == "fox"  # fmt: skip
    assert dec.check("x") is None


def test_decontamination_formats_and_errors(tmp_path):
    import pyarrow as pa
    import pyarrow.parquet as pq

    storage = Storage(StorageConfig())
    pq.write_table(pa.table({"prompt": [QUESTION], "n": [1]}), tmp_path / "b.parquet")
    gz = tmp_path / "b.jsonl.gz"
    gz.write_bytes(gzip.compress((json.dumps({"text": QUESTION}) + "\n").encode()))
    for uri in (tmp_path / "b.parquet", gz):
        cfg = DecontamConfig(ngram=8, benchmarks=[BenchmarkSource(name="b", uri=str(uri))])
        assert Decontaminator(cfg, storage).check(QUESTION).benchmark == "b"
    bad = [("missing.jsonl", "does not exist"), ("b.csv", "unsupported file type")]
    (tmp_path / "b.csv").write_text("a,b\n")
    for name, msg in bad:
        cfg = DecontamConfig(benchmarks=[BenchmarkSource(name="x", uri=str(tmp_path / name))])
        with pytest.raises(BenchmarkError, match=msg):
            Decontaminator(cfg, storage)
    (tmp_path / "broken.jsonl").write_text('{"q": 1}\nnot json\n')
    cfg = DecontamConfig(benchmarks=[BenchmarkSource(name="x", uri=str(tmp_path / "broken.jsonl"))])
    with pytest.raises(BenchmarkError, match="broken.jsonl:2: not JSON"):
        Decontaminator(cfg, storage)
    pq_cfg = BenchmarkSource(name="p", uri=str(tmp_path / "b.parquet"), fields=["question"])
    with pytest.raises(BenchmarkError, match=r"no column\(s\) \['question'\]"):
        Decontaminator(DecontamConfig(benchmarks=[pq_cfg]), storage)
    assert not Decontaminator(DecontamConfig(), storage)  # none listed: checks nothing
