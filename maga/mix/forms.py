"""MAGA-Mix per output form, for comparing plain rewrites with megadocs (arXiv 2603.18534).

A published corpus can hold the synthetic text in more than one form:

* ``documents``: every kept rewrite is its own row. These are the ``data/`` rows of the
  shards published in ``documents`` mode, and the ``generations/`` rows of the shards
  published in ``stitch`` mode (the rewrites a stitched megadoc is made of);
* ``stitch``: the ``data/`` rows of ``stitch`` shards (one megadoc per source);
* ``stretch``: the ``data/`` rows of ``stretch`` shards (the source with rationales
  inserted; its ``generations/`` are rationales, not documents, so they form no arm).

When there is more than one form, :func:`form_mixes` plans ``maga_mix_<form>`` for each:
the ``maga_mix`` recipe (same budget, same synthetic share, same real component: every
accepted source) with only that form as the synthetic half. A stitch output therefore
compares the same rewrites once as separate documents and once stitched; forms that come
from different shards (a refresh whose output mode changed) also differ in their sources,
which the mix evaluation's report says.
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from maga.config import MixConfig
from maga.mix.plan import Component, MixError, budget_of, plan_recipe

FORMS = ("documents", "stitch", "stretch")
DEFINITIONS = {
    "documents": "MAGA-Mix with the rewrites as separate documents as the synthetic half",
    "stitch": "MAGA-Mix with stitched megadocs (a source's rewrites joined) as the synthetic half",
    "stretch": "MAGA-Mix with stretched megadocs (rationales inserted) as the synthetic half",
}


def form_recipe(form: str) -> str:
    return f"maga_mix_{form}"


def form_components(manifest: dict[str, Any]) -> dict[str, Component]:
    """The synthetic rows of each output form over the published shards (only the
    forms that have rows), from the manifest's per-shard counts."""
    files: dict[str, list[str]] = defaultdict(list)
    rows: dict[str, int] = defaultdict(int)
    tokens: dict[str, int] = defaultdict(int)
    for _, entry in sorted(manifest.get("shards", {}).items()):
        st = entry.get("stats", {})
        if entry.get("status") != "published" or not entry.get("source_rows") or \
                "source_tokens" not in st:  # fmt: skip
            continue  # as maga.mix.export.components: only shards with token counts
        mode = entry.get("output_mode", "documents")
        parts = [(mode, entry["output"], entry.get("rows", 0), st.get("output_tokens", 0))]
        if mode == "stitch" and entry.get("generations"):
            parts.append(("documents", entry["generations"], st.get("kept", 0),
                          st.get("generation_tokens", 0)))  # fmt: skip
        for form, file, n_rows, n_tokens in parts:
            if n_rows and n_tokens:
                files[form].append(file)
                rows[form] += n_rows
                tokens[form] += n_tokens
    return {f: Component("synthetic", files[f], rows[f], tokens[f]) for f in FORMS if rows[f]}


def form_mixes(cfg: MixConfig, comps: dict[str, Component],
               manifest: dict[str, Any]) -> tuple[dict[str, dict[str, Any]], dict[str, str]]:  # fmt: skip
    """``maga_mix_<form>`` per output form when the corpus holds more than one (else
    none), at the budget of ``maga_mix``; and the ones that could not be built, why."""
    forms = form_components(manifest)
    if "maga_mix" not in cfg.recipes or len(forms) < 2:
        return {}, {}
    # every form at the budget of maga_mix (over all of them): equal tokens
    fixed = cfg.model_copy(update={"token_budget": budget_of(cfg, comps)})
    mixes, skipped = {}, {}
    for form, synthetic in forms.items():
        name = form_recipe(form)
        try:
            mix = plan_recipe("maga_mix", fixed, {**comps, "synthetic": synthetic})
        except MixError as exc:
            skipped[name] = str(exc)
            continue
        mixes[name] = {**mix, "recipe": name, "definition": DEFINITIONS[form],
                       "output_form": form, "forms_in_corpus": sorted(forms)}  # fmt: skip
    return mixes, skipped
