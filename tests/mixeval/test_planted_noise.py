"""The evaluation can tell data apart: a MAGA-Mix whose synthetic half is shuffled
tokens (noise) must come out worse than repetition beyond the seed spread, on the
``tiny`` proxy, through the real mix planner, ``load_mix`` and the real training."""

from __future__ import annotations

import io

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from maga.config import MixConfig, load_config
from maga.corpus.builtin import wiki_records
from maga.mix.export import hf_recipe
from maga.mix.plan import Component, plan_recipe
from maga.mixeval import data, results
from maga.mixeval.heldout import Excluded, disjointness, select
from maga.mixeval.train import train_arm
from maga.storage import Storage

pytestmark = [pytest.mark.timeout(600)]
SOURCES = 240  # real documents (the sources); as many again become the noise


def _parquet(path, rows) -> str:
    buf = io.BytesIO()
    pq.write_table(pa.table({k: [r[k] for r in rows] for k in ("id", "text", "n_tokens")}), buf)
    path.write_bytes(buf.getvalue())
    return str(path)


def _noise(tok: str, texts: list[str], seed: int = 0) -> list[str]:
    """Each document's own tokens in a random order: its unigrams, none of its text."""
    rng = np.random.default_rng(seed)
    t = data.tokenizer(tok)
    return [t.decode(rng.permutation(ids[:-1]).tolist()) for ids in data.encode(tok, texts)]


def _rows(tok: str, prefix: str, texts: list[str]) -> list[dict]:
    ids = data.encode(tok, texts)
    return [{"id": f"{prefix}-{i}", "text": t, "n_tokens": len(x) - 1}
            for i, (t, x) in enumerate(zip(texts, ids, strict=True))]  # fmt: skip


def test_noise_mix_is_worse_than_repetition_beyond_the_spread(tmp_path):
    cfg = load_config("tiny", ["corpus.languages=[en]"])  # held out like the sources
    tok = cfg.mix_eval.proxy.tokenizer
    docs = [r for r in wiki_records(["en"]) if 300 <= len(r["text"]) <= 2000][: 2 * SOURCES]
    real = _rows(tok, "real", [d["text"] for d in docs[:SOURCES]])
    noise = _rows(tok, "noise", _noise(tok, [d["text"] for d in docs[SOURCES:]]))
    comps = {
        "real": Component("real", [_parquet(tmp_path / "real.parquet", real)], len(real),
                          sum(r["n_tokens"] for r in real)),
        "real_expanded": Component("real_expanded", [], 0, 0),
        "synthetic": Component("synthetic", [_parquet(tmp_path / "noise.parquet", noise)],
                               len(noise), sum(r["n_tokens"] for r in noise)),
    }  # fmt: skip
    mix_cfg = MixConfig(synthetic_share=0.5)
    recipes = {name: hf_recipe(plan_recipe(name, mix_cfg, comps), f"{name}.json")
               for name in ("maga_mix", "repetition")}  # fmt: skip

    excluded = Excluded(cfg.mix_eval.ngram)
    for row in real + [{"id": d["id"], "text": d["text"]} for d in docs[SOURCES:]]:
        excluded.add("sources", row["id"], row["text"])
    picked = select(cfg, Storage(), excluded, 0, len)
    assert disjointness(excluded, picked["heldout"])["disjoint"]

    runs = {name: train_arm(cfg, recipe, picked["heldout"]) for name, recipe in recipes.items()}
    table = results.table(runs)
    mix, rep = table["maga_mix"]["all"], table["repetition"]["all"]
    print(f"planted noise: maga_mix(noise) {mix}, repetition {rep}")
    assert mix["seeds"] == rep["seeds"] == 2
    assert mix["vs_repetition"] == "worse", (mix, rep)
    assert mix["min"] > rep["max"]  # beyond the spread, not only on average
    gate = results.gate(cfg.mix_eval.gate.model_copy(update={"enabled": True}), table)
    assert not gate["passed"] and gate["observed"] > 0
