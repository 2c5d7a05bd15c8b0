"""The dataset card: ``README.md`` at the output root, in the Hugging Face style (YAML
front matter, then prose and tables), rebuilt from the processed-shards manifest after
every publish, so its statistics always describe exactly the published files."""

from __future__ import annotations

from collections import Counter
from typing import Any

from maga.config import MagaConfig
from maga.refresh import counters
from maga.refresh.counters import merge
from maga.refresh.manifest import COMPACT_BELOW

SIZE_CATEGORIES = [(1_000, "n<1K"), (10_000, "1K<n<10K"), (100_000, "10K<n<100K"),
                   (1_000_000, "100K<n<1M"), (10_000_000, "1M<n<10M")]  # fmt: skip


def _size_category(n: int) -> str:
    return next((name for bound, name in SIZE_CATEGORIES if n < bound), "n>10M")


def card_stats(manifest: dict[str, Any]) -> dict[str, Any]:
    """Totals over the published shards of the manifest (every counter of
    :mod:`maga.refresh.counters` kept in it); records read and quarantined count every
    shard, published or rejected."""
    entries = list(manifest.get("shards", {}).values())
    published = [e for e in entries if e.get("status") == "published"]
    names = [n for n in counters.manifest_counts() if n != "records"]
    t = merge((e.get("stats", {}) for e in published), names)
    for k in ("prompt_tokens", "completion_tokens"):  # usage, kept beside the counters
        t[k] = sum(e.get("stats", {}).get(k, 0) for e in published)
    everything = merge((e.get("stats", {}) for e in entries), ["records", "quarantine_reasons"])
    modes = Counter(e.get("output_mode", "documents") for e in published)
    return {**t, **everything, "shards": len(published),
            "rejected_shards": len(entries) - len(published),
            "rows": sum(e.get("rows", 0) for e in published),
            "tool_model_versions": sorted({v for e in published
                                           if (v := e.get("tool_model_version"))}),
            "prompt_variants": sorted({v for e in published if (v := e.get("prompt_variant"))}),
            "output_modes": dict(sorted(modes.items()))}  # fmt: skip


def _table(counts: dict[str, int], head: str, by_count: bool = True) -> str:
    if not counts:
        return "_none_\n"
    items = sorted(counts.items(), key=lambda kv: -kv[1]) if by_count else sorted(counts.items())
    rows = [f"| {head} | count |", "|---|---:|"]
    rows += [f"| {k} | {v:,} |" for k, v in items]
    return "\n".join(rows) + "\n"


MODE_PROSE = {
    "documents": "Each kept rewrite is one row.",
    "stitch": ("Each row is a megadoc: all kept rewrites of one source joined in a seeded "
               "random order (`members`, `member_spans`), the original first or omitted as "
               "configured; the rewrites themselves are in `generations/`."),
    "stretch": ("Each row is a source document with generated rationales inserted after its "
                "passages (`members`, `member_spans` locate them; removing them gives the "
                "source back); the rationales themselves are in `generations/`."),
}  # fmt: skip


def _modes_prose(modes: dict[str, int]) -> str:
    if not modes:
        return ""
    head = ", ".join(f"`{m}` ({n:,} shards)" for m, n in modes.items())
    return f"Output mode: {head}. " + " ".join(MODE_PROSE.get(m, "") for m in modes)


def _hygiene_prose(cfg: MagaConfig) -> str:
    h = cfg.refresh.hygiene
    parts = []
    if h.language.enabled:
        parts.append("rewrites not in their source's language are dropped (py3langid)")
    if h.near_dup.enabled:
        parts.append(f"near-duplicates of anything published are dropped (MinHash-LSH, "
                     f"Jaccard >= {h.near_dup.threshold})")  # fmt: skip
    if h.decontam.enabled and h.decontam.benchmarks:
        names = ", ".join(b.name for b in h.decontam.benchmarks)
        parts.append(f"rewrites sharing a {h.decontam.ngram}-gram with {names} are dropped")
    if h.pii.enabled:
        parts.append("e-mail addresses, IPs, phone and card numbers become placeholders")
    return ("Corpus hygiene: " + "; ".join(parts) + ".") if parts else ""


def _review_table(manifest: dict[str, Any]) -> str:
    """Shards a person reviewed before publishing (maga.refresh.review): who, when, why."""
    from maga.refresh.review import card_line

    lines = [line for e in manifest.get("shards", {}).values() if (line := card_line(e))]
    if not lines:
        return ""
    head = "| shard | review | reviewer | at | comment |\n|---|---|---|---|---|\n"
    return "### Review before publishing\n" + head + "\n".join(lines) + "\n\n"


def render_card(manifest: dict[str, Any], cfg: MagaConfig, output: str) -> str:
    s = card_stats(manifest)
    kept, docs = s.get("kept", 0), s.get("docs", 0)
    ratio = s.get("output_chars", 0) / s["input_chars"] if s.get("input_chars") else 0.0
    langs = sorted(k for k in s["languages"] if k not in ("unknown", "und")) or ["multilingual"]
    front = ["---", "language:", *[f"- {lang}" for lang in langs], "license: other",
             "task_categories:", "- text-generation", "tags:", "- synthetic", "- maga",
             "- reformulation", *(["- megadocs"] if set(s["output_modes"]) - {"documents"}
                                  else []),
             "size_categories:", f"- {_size_category(s.get('rows', kept))}", "configs:",
             "- config_name: default", "  data_files:", "  - split: train",
             "    path: data/*.parquet", "---"]  # fmt: skip
    demo = ("\n> **Demo models.** These rewrites come from small or randomly initialised "
            "models; they show the pipeline working, not the method's output quality.\n"
            if cfg.demo_models else "")  # fmt: skip
    judged = sum(v for k, v in s["score_histogram"].items() if k != "unparsed")
    low = sum(s["score_histogram"].get(str(k), 0) for k in (1, 2))
    counter_rows = "\n".join(f"| {c.card} | {s.get(c.name, 0):,} |" for c in counters.COUNTS
                             if c.card and c.merge == "sum")  # fmt: skip
    counter_tables = "".join(f"### {c.card}\n{_table(s[c.name], c.unit)}" for c in counters.COUNTS
                             if c.card and c.merge == "counts")  # fmt: skip
    body = f"""
# MAGA reformulated corpus
{demo}
Synthetic pretraining text made by MAGA genre-audience reformulation: for every source
document a small tool model (GA-SLM) proposes {cfg.generation.pairs_per_doc} (genre,
audience) pairs in one pass, and a reformulation SLM rewrites the document once per pair.
The rewrites are cleaned (generation boilerplate stripped, low keyword coverage, length
bounds, exact and near duplicates within a source) and a sample is judged for Limited
Consistency before a shard is published. Every row links back to its source document.
{_hygiene_prose(cfg)}
{_modes_prose(s["output_modes"])}

## Statistics (all published shards)

| | |
|---|---:|
| published shards | {s.get("shards", 0):,} |
| rejected shards (stopped by a gate, an error or a review) | {s.get("rejected_shards", 0):,} |
{counter_rows}
| rows published | {s.get("rows", 0):,} |
| tokens: source / generated (kept) / published rows | {s.get("source_tokens", 0):,} / {s.get("generation_tokens", 0):,} / {s.get("output_tokens", 0):,} |
| rewrites per source document | {kept / docs if docs else 0:.2f} |
| expansion ratio (output chars / source chars) | {ratio:.2f} |
| generated tokens (prompt / completion) | {s.get("prompt_tokens", 0):,} / {s.get("completion_tokens", 0):,} |
| judged sample, share scored <= 2 | {low / judged if judged else 0:.1%} of {judged:,} |
| tool-model versions | {", ".join(f"v{v:04d}" for v in s["tool_model_versions"]) or "-"} |
| prompt variants | {", ".join(s["prompt_variants"]) or "-"} |

{_review_table(manifest)}{counter_tables}### Judge scores (sample)
{_table(s["score_histogram"], "score", by_count=False)}
## Files and schema

- `data/<shard>.parquet`: one file per source shard; columns `source_id`, `genre`,
  `audience`, `prompt_variant`, `tool_model_version`, `text`, plus `id` (unique:
  `<source_id>#<pair>`, `~pN` marks a part of a split document), `part`, `pair_index`,
  `n_chars`, `source_shard`.
- `rejects/<shard>.parquet`: rejected input records and dropped rewrites with `stage`,
  `reason` and `detail`.
- `generations/<shard>.parquet` (stitch and stretch): the kept generations a row is
  made of; `source/<shard>.parquet`: the accepted source documents, for training mixes.
- `mixes/<recipe>.json` and `<recipe>.hf.json`: training mixes (MAGA-Mix, repetition and
  upsampling baselines; with more than one output form published, `maga_mix_<form>`
  per form) with files and sampling weights; load one with `maga.mix.load_mix`.
- `dedup/minhash-…/<shard>.parquet`: MinHash signatures of the published rows, the
  near-duplicate index that later refreshes check against.
- `manifest.json`: processed source shards (URI, content hash, run, statistics,
  published or rejected with the step, gate and reason). Above {COMPACT_BELOW:,} shards a publish
  writes only its own entries to `_manifest/<seq>.json`, folded into `manifest.json`
  from time to time: read it with `maga.refresh.manifest.load_manifest`, which applies
  them, not as a single file.
- Every row has `output_mode` and `n_tokens` (tokens of the reformulation SLM's
  tokenizer).
Source: `{manifest.get("source_uri", "")}`; location: `{output}`; updated
{manifest.get("updated_at", "")}.
"""
    return "\n".join(front) + "\n" + body
