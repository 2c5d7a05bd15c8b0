"""Training-mix manifests over the published corpus (written by the corpus refresh's
``export_mix`` step, :mod:`maga.refresh.export_mix`).

Reads the processed-shards manifest (no data file is opened: the per-shard token and
row counts were recorded when the shards were cleaned), builds each configured recipe
(:mod:`maga.mix.plan`) and writes, under ``refresh.mix.output_uri`` (default
``<output>/mixes``):

* ``<recipe>.json``: the mixture manifest (files, rows, tokens, target tokens, epochs,
  sampling probability and token share per component, the budget and the definition);
* ``<recipe>.hf.json``: the same mix as a ``datasets`` interleave recipe, loaded in one
  call by :func:`maga.mix.load_mix`;
* ``summary.json``: tokens and rows per output mode and per component, and which
  recipes could not be built and why.

When the corpus holds more than one output form (rewrites as documents, stitched or
stretched megadocs), ``maga_mix_<form>`` is also written for each
(:mod:`maga.mix.forms`), so that the forms can be compared at equal tokens.

The files depend only on the manifest and the settings, so rerunning changes nothing.
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from maga.config import MixConfig
from maga.log import get_logger
from maga.mix.forms import form_mixes
from maga.mix.load import KIND
from maga.mix.plan import Component, MixError, plan_recipe
from maga.storage import Storage, join_uri

log = get_logger("mix.export")


def mix_root(cfg: MixConfig, output: str) -> str:
    return cfg.output_uri or join_uri(output, "mixes")


def components(manifest: dict[str, Any]) -> tuple[dict[str, Component], dict[str, Any]]:
    """The three components over every published shard, and per-mode totals."""
    files: dict[str, list[str]] = defaultdict(list)
    rows: dict[str, int] = defaultdict(int)
    tokens: dict[str, int] = defaultdict(int)
    modes: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    legacy = []
    for uri, entry in sorted(manifest.get("shards", {}).items()):
        if entry.get("status") != "published":
            continue
        st = entry.get("stats", {})
        if not entry.get("source_rows") or "source_tokens" not in st:
            legacy.append(uri)  # published before token counts were recorded
            continue
        mode = entry.get("output_mode", "documents")
        m = modes[mode]
        m["shards"] += 1
        m["rows"] += entry.get("rows", 0)
        m["tokens"] += st.get("output_tokens", 0)
        m["generation_tokens"] += st.get("generation_tokens", 0)
        m["source_tokens"] += st.get("source_tokens", 0)
        for name, file, n_rows, n_tokens in (
            ("real", entry["source_rows"], st.get("docs", 0), st.get("source_tokens", 0)),
            ("real_expanded", entry["source_rows"], st.get("docs_with_output", 0),
             st.get("expanded_tokens", 0)),
            ("synthetic", entry["output"], entry.get("rows", 0), st.get("output_tokens", 0)),
        ):  # fmt: skip
            if n_rows:
                files[name].append(file)
                rows[name] += n_rows
                tokens[name] += n_tokens
    comps = {name: Component(name, files[name], rows[name], tokens[name],
                             {"expanded": True} if name == "real_expanded" else None)
             for name in ("real", "real_expanded", "synthetic")}  # fmt: skip
    return comps, {"modes": {k: dict(v) for k, v in sorted(modes.items())}, "legacy": legacy}


def hf_recipe(mix: dict[str, Any], manifest_uri: str) -> dict[str, Any]:
    parts = mix["components"]
    return {
        "kind": KIND, "schema_version": 1, "recipe": mix["recipe"], "manifest": manifest_uri,
        "components": [{"name": p["name"], "builder": "parquet", "data_files": p["files"],
                        "where": p["where"]} for p in parts],
        "probabilities": [p["probability"] for p in parts], "seed": mix["seed"],
        "sampling": mix["sampling"], "stopping_strategy": "first_exhausted",
        "repeat_components": True,
        "num_rows": mix["num_rows"],
        "load": "from maga.mix import load_mix; ds = load_mix(<this file>)",
    }  # fmt: skip


def export_mixes(
    storage: Storage, cfg: MixConfig, output: str, manifest: dict[str, Any]
) -> dict[str, Any]:
    """Write every configured recipe over the published shards of ``manifest``."""
    comps, extra = components(manifest)
    root = mix_root(cfg, output)
    written, skipped = {}, {}
    mixes = {}
    for recipe in cfg.recipes:
        try:
            mixes[recipe] = plan_recipe(recipe, cfg, comps)
        except MixError as exc:
            skipped[recipe] = str(exc)
            log.warning("mix %s not written: %s", recipe, exc)
    by_form, form_skipped = form_mixes(cfg, comps, manifest)
    mixes.update(by_form)
    skipped.update(form_skipped)
    for recipe, mix in mixes.items():
        mix["tokenizer"] = cfg.tokenizer
        mix["source_manifest"] = join_uri(output, "manifest.json")
        mix["manifest_updated_at"] = manifest.get("updated_at")
        uri = join_uri(root, f"{recipe}.json")
        storage.write_json(uri, mix)
        storage.write_json(join_uri(root, f"{recipe}.hf.json"), hf_recipe(mix, uri))
        written[recipe] = uri
        shares = ", ".join(f"{p['name']} {p['token_share']:.2f} (x{p['epochs']:.2f})"
                           for p in mix["components"])  # fmt: skip
        log.info(
            "mix %s: %d tokens, %d rows: %s -> %s",
            recipe,
            mix["token_budget"],
            mix["num_rows"],
            shares,
            uri,
        )
    summary = {"written": written, "skipped": skipped, **extra,
               "components": {n: {"rows": c.rows, "tokens": c.tokens, "files": len(c.files)}
                              for n, c in comps.items()}}  # fmt: skip
    storage.write_json(join_uri(root, "summary.json"), summary)
    return summary
