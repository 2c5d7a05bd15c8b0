"""Load a training mix as a Hugging Face ``datasets`` stream, in one call.

The ``<recipe>.hf.json`` file next to a mixture manifest holds everything
:func:`datasets.interleave_datasets` needs: per component a Parquet builder, its files
and an optional row filter, then the sampling probabilities, the seed and the number of
rows (the token budget in rows). Components repeat as often as their epochs need.

``sampling`` picks how rows are drawn: ``stratified`` (default,
:mod:`maga.mix.schedule`) gives every component its exact share of each block of rows
in a seeded order; ``random`` is plain ``interleave_datasets`` with the probabilities,
right in expectation but off by sampling noise on a short mix::

    from maga.mix import load_mix
    ds = load_mix("var/corpus/maga/mixes/maga_mix.hf.json")  # an IterableDataset
    for row in ds: ...  # {"id", "text", "n_tokens", "component"}

Files on S3 are downloaded once into ``MAGA_MIX_CACHE`` (default ``var/mix-cache``)
with the project's S3 settings, so no extra filesystem package is needed.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Any

from maga.config import PROJECT_ROOT

COLUMNS = ["id", "text", "n_tokens"]
KIND = "maga-hf-interleave"


def _read(recipe: str | Path | dict[str, Any]) -> dict[str, Any]:
    if isinstance(recipe, dict):
        data = recipe
    else:
        from maga.storage import Storage

        data = json.loads(Storage().read_text(str(recipe)))
    if data.get("kind") != KIND:
        raise ValueError(f"{recipe if not isinstance(recipe, dict) else 'recipe'} is not a "
                         f"{KIND} recipe (kind={data.get('kind')!r})")  # fmt: skip
    return data


def _local(files: list[str]) -> list[str]:
    """Local paths for ``files``; s3:// objects are downloaded once (by URI and ETag)."""
    remote = [f for f in files if f.startswith("s3://")]
    if not remote:
        return list(files)
    from maga.storage import Storage

    storage = Storage()
    cache = Path(os.environ.get("MAGA_MIX_CACHE") or PROJECT_ROOT / "var" / "mix-cache")
    out = []
    for f in files:
        if not f.startswith("s3://"):
            out.append(f)
            continue
        tag = storage.etag(f)
        name = hashlib.sha1(f"{f}:{tag}".encode()).hexdigest()[:16] + ".parquet"
        target = cache / name
        if not target.exists():
            tmp = target.with_suffix(".part")
            storage.get_file(f, tmp)
            tmp.rename(target)
        out.append(str(target))
    return out


def component_dataset(comp: dict[str, Any], repeat: bool = True) -> Any:
    """One component as an IterableDataset of ``id``, ``text``, ``n_tokens``,
    ``component``; endless when ``repeat`` (the mix's row count bounds it)."""
    from datasets import load_dataset

    where = comp.get("where") or {}
    # only the columns used: a component may join files of different schemas (published
    # rows and the rewrites a megadoc is made of, maga.mix.forms)
    columns = list(dict.fromkeys([*COLUMNS, *where]))
    ds = load_dataset(comp["builder"], data_files=_local(comp["data_files"]), split="train",
                      streaming=True, columns=columns)  # fmt: skip
    if where:
        ds = ds.filter(lambda row: all(row[k] == v for k, v in where.items()))
    name = comp["name"]
    ds = ds.select_columns(COLUMNS).map(lambda row: {**row, "component": name})
    return ds.repeat(None) if repeat else ds


def _stratified_rows(recipe: dict[str, Any]) -> Any:
    from maga.mix.schedule import stratified

    streams = [iter(component_dataset(c)) for c in recipe["components"]]
    order = stratified(recipe["probabilities"], recipe["seed"])
    for _, k in zip(range(int(recipe["num_rows"])), order, strict=False):
        yield next(streams[k])


def load_mix(recipe: str | Path | dict[str, Any], sampling: str | None = None) -> Any:
    """The mix as a ``datasets.IterableDataset`` of ``num_rows`` rows drawn from the
    components at the recipe's probabilities with its seed (reproducible). ``sampling``
    overrides the recipe's (``stratified`` or ``random``)."""
    from datasets import Features, IterableDataset, Value, interleave_datasets

    r = _read(recipe)
    how = sampling or r.get("sampling", "random")
    if how == "stratified":
        features = Features({"id": Value("string"), "text": Value("string"),
                             "n_tokens": Value("int64"), "component": Value("string")})  # fmt: skip
        return IterableDataset.from_generator(_stratified_rows, features=features,
                                              gen_kwargs={"recipe": r})  # fmt: skip
    if how != "random":
        raise ValueError(f"sampling must be 'stratified' or 'random', got {how!r}")
    comps = [component_dataset(c) for c in r["components"]]
    mixed = interleave_datasets(comps, probabilities=r["probabilities"], seed=r["seed"],
                                stopping_strategy="first_exhausted")  # fmt: skip
    return mixed.take(int(r["num_rows"]))
