"""Checks of published refresh output, shared by the fast (scripted model) and the slow
(real vLLM engine) mode tests. Each returns figures the tests assert more on."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pyarrow.parquet as pq

from maga.config import MegadocConfig, StretchConfig
from maga.megadocs.stitch import stitch_order
from maga.megadocs.stretch import remove_spans
from maga.refresh.pairs import pair_key


def table(folder: Path, kind: str) -> list[dict]:
    rows = []
    for path in sorted((folder / kind).glob("*.parquet")):
        rows += pq.read_table(path).to_pylist()
    return rows


def check_documents(out: Path) -> Counter:
    """Rewrites per source; no source has the same (genre, audience) twice."""
    rows = table(out, "data")
    assert rows and {r["output_mode"] for r in rows} == {"documents"}
    per_source: dict[str, list] = {}
    for r in rows:
        assert r["genre"] and r["audience"] and r["n_tokens"] > 0
        per_source.setdefault(r["source_id"], []).append(pair_key(r))
    for keys in per_source.values():
        assert len(keys) == len(set(keys)), "a pair repeats within one source"
    assert not (out / "generations").exists() or not list((out / "generations").glob("*"))
    return Counter({s: len(k) for s, k in per_source.items()})


def check_stitch(out: Path, cfg: MegadocConfig) -> dict[str, int]:
    megadocs, gens = table(out, "data"), table(out, "generations")
    sources = {r["id"]: r["text"] for r in table(out, "source")}
    assert megadocs and gens
    text_of = {g["id"]: g["text"] for g in gens}
    seen = Counter(m for d in megadocs for m in d["members"])
    assert set(seen) == set(text_of), "every kept rewrite is in a megadoc"
    assert set(seen.values()) == {1}, "... and in exactly one"
    assert len({d["source_id"] for d in megadocs}) == len(megadocs), "one megadoc per source"
    for d in megadocs:
        assert d["output_mode"] == "stitch" and d["id"] == f"{d['source_id']}#stitch"
        assert d["n_generations"] == len(d["members"]) and d["original"] == cfg.original
        assert all(g in text_of and g.startswith(d["source_id"]) for g in d["members"])
        assert d["members"] == stitch_order(d["members"], cfg.seed, d["source_id"])
        for member, (start, end) in zip(d["members"], d["member_spans"], strict=True):
            assert d["text"][start:end] == text_of[member]
        src = sources[d["source_id"]]
        assert d["text"].startswith(src + cfg.separator) == (cfg.original == "first")
    return {"megadocs": len(megadocs), "rewrites": len(gens)}


def check_stretch(out: Path, cfg: StretchConfig) -> dict[str, int]:
    docs, gens = table(out, "data"), table(out, "generations")
    sources = {r["id"]: r["text"] for r in table(out, "source")}
    assert docs and gens
    text_of = {g["id"]: g["text"] for g in gens}
    inserts = 0
    for d in docs:
        assert d["output_mode"] == "stretch" and d["insert_unit"] == cfg.unit
        assert remove_spans(d["text"], d["member_spans"]) == sources[d["source_id"]]
        for member, (start, end) in zip(d["members"], d["member_spans"], strict=True):
            assert d["text"][start:end] == cfg.separator + text_of[member]
        inserts += len(d["members"])
    assert inserts == len(gens)
    return {"docs": len(docs), "inserts": inserts}


def check_mix(out: Path, recipe: str, tolerance: float = 0.01) -> dict[str, float]:
    """Load the recipe with datasets; row and token shares match the manifest."""
    import json

    from maga.mix import load_mix

    manifest = json.loads((out / "mixes" / f"{recipe}.json").read_text())
    hf = json.loads((out / "mixes" / f"{recipe}.hf.json").read_text())
    assert hf["sampling"] == manifest["sampling"] == "stratified"
    assert hf["probabilities"] == [p["probability"] for p in manifest["components"]]
    # a 1% check means little on a few hundred rows: at 5,000 it is 50 rows
    assert manifest["num_rows"] >= 5_000, "raise refresh.mix.token_budget for this check"
    rows, tokens = Counter(), Counter()
    for row in load_mix(str(out / "mixes" / f"{recipe}.hf.json")):
        rows[row["component"]] += 1
        tokens[row["component"]] += row["n_tokens"]
    assert sum(rows.values()) == manifest["num_rows"]
    shares = {}
    for part in manifest["components"]:
        got = rows[part["name"]] / manifest["num_rows"]
        assert abs(got - part["probability"]) <= tolerance, (part["name"], got)
        tok = tokens[part["name"]] / sum(tokens.values())
        assert abs(tok - part["token_share"]) <= tolerance, (part["name"], tok)
        shares[part["name"]] = round(tok, 4)
    return shares
