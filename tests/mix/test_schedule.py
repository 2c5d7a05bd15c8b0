"""The stratified schedule: exact shares per block, seeded order; and load_mix's two
ways of drawing rows on real Parquet files read by datasets."""

from __future__ import annotations

from collections import Counter
from itertools import islice

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from maga.mix import load_mix
from maga.mix.schedule import BLOCK, stratified


def take(p, seed, n):
    return list(islice(stratified(p, seed), n))


@pytest.mark.parametrize("p", [[0.8173, 0.1827], [0.001, 0.999], [0.2, 0.3, 0.5]])
def test_every_block_holds_each_share_to_one_row(p):
    rows = take(p, 7, 5 * BLOCK)
    for end in range(BLOCK, 5 * BLOCK + 1, BLOCK):
        counts = Counter(rows[:end])
        for k, share in enumerate(p):
            assert abs(counts[k] - share * end) <= 1, (end, k, counts[k])


def test_order_is_seeded_and_shuffled():
    a, b = take([0.5, 0.5], 1, 2048), take([0.5, 0.5], 2, 2048)
    assert a == take([0.5, 0.5], 1, 2048) and a != b
    assert Counter(a) == Counter(b)
    # not the greedy round-robin 0,1,0,1,...: runs of the same component occur
    assert any(a[i] == a[i + 1] == a[i + 2] for i in range(len(a) - 2))


def test_bad_probabilities_are_named():
    with pytest.raises(ValueError, match="sum to 1"):
        take([0.5, 0.6], 1, 1)
    with pytest.raises(ValueError, match="non-negative"):
        take([-0.5, 1.5], 1, 1)


def write(path, prefix, n, tokens):
    rows = {"id": [f"{prefix}{i}" for i in range(n)], "text": ["x" * tokens] * n,
            "n_tokens": [tokens] * n, "expanded": [i % 2 == 0 for i in range(n)]}  # fmt: skip
    pq.write_table(pa.table(rows), path)
    return str(path)


@pytest.fixture
def recipe(tmp_path):
    short = write(tmp_path / "short.parquet", "s", 7, 10)
    long = write(tmp_path / "long.parquet", "l", 3, 400)
    return {"kind": "maga-hf-interleave", "schema_version": 1, "seed": 3, "num_rows": 6000,
            "sampling": "stratified", "probabilities": [0.9, 0.1],
            "components": [
                {"name": "short", "builder": "parquet", "data_files": [short], "where": None},
                {"name": "long", "builder": "parquet", "data_files": [long],
                 "where": {"expanded": True}}]}  # fmt: skip


def test_load_mix_stratified_is_exact_and_reproducible(recipe):
    rows = list(load_mix(recipe))
    assert len(rows) == 6000
    counts = Counter(r["component"] for r in rows)
    assert abs(counts["long"] - 600) <= 3
    # the filter keeps rows 0 and 2 of "long"; components repeat past their end
    assert {r["id"] for r in rows if r["component"] == "long"} == {"l0", "l2"}
    assert [r["id"] for r in load_mix(recipe)] == [r["id"] for r in rows]


def test_load_mix_random_sampling_and_bad_choice(recipe):
    rows = list(load_mix(recipe, sampling="random"))
    assert len(rows) == 6000 and {r["component"] for r in rows} == {"short", "long"}
    with pytest.raises(ValueError, match="stratified"):
        load_mix(recipe, sampling="round-robin")
    with pytest.raises(ValueError, match="not a maga-hf-interleave recipe"):
        load_mix({**recipe, "kind": "other"})
