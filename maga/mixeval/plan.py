"""Step 1 of ``maga_mix_eval``: what to train, on what, and whether it was done before.

Reads the mix recipes the refresh's ``export_mix`` wrote (``<output>/mixes``), picks
the held-out and extra real documents (:mod:`maga.mixeval.heldout`), writes the 2x/4x
baseline recipes (the repetition recipe plus a component of fresh real documents, in
the same ``datasets`` interleave format :func:`maga.mix.load_mix` reads), and computes
the evaluation's fingerprint: every recipe's content and data files, the evaluation
settings (proxy, seeds, held-out set). When the registry of evaluations already holds
that fingerprint, the run trains nothing and points at the earlier result.
"""

from __future__ import annotations

import hashlib
import io
from typing import Any

from maga.log import get_logger
from maga.mix.load import KIND, component_dataset
from maga.mixeval import data, heldout
from maga.mixeval.results import BASELINE, curve_arm
from maga.runs.context import RunContext, resolve_root
from maga.runs.stage import StageStats
from maga.storage import dumps_json, join_uri

log = get_logger("mixeval.plan")


class NothingToEvaluate(ValueError):
    """No mix recipe was written where the evaluation looks (a scheduled run skips)."""


def registry_root(ctx: RunContext) -> str:
    """The registry of evaluations: ``<storage root>/evaluations/mix_eval/<fingerprint>``."""
    return join_uri(resolve_root(ctx.config.storage.root), "evaluations", "mix_eval")


def read_plan(ctx: RunContext) -> dict[str, Any]:
    return ctx.storage.read_json(ctx.uri("plan", "plan.json"))


def _recipes(ctx: RunContext, root: str) -> dict[str, dict[str, Any]]:
    uri = join_uri(root, "summary.json")
    if not ctx.storage.exists(uri):
        raise NothingToEvaluate(f"no training mixes at {root} (has the corpus refresh "
                                "published and exported mixes there?)")  # fmt: skip
    summary = ctx.storage.read_json(uri)
    wanted = ctx.config.mix_eval.recipes
    out = {}
    for name, uri in sorted(summary.get("written", {}).items()):
        if wanted is None or name in wanted:
            out[name] = ctx.storage.read_json(uri[: -len(".json")] + ".hf.json")
    missing = sorted(set(wanted or []) - set(out))
    if missing:
        raise ValueError(f"mix_eval.recipes: {', '.join(missing)} not written by export_mix "
                         f"in {root} (written: {', '.join(sorted(out)) or 'none'})")  # fmt: skip
    if not out:
        raise NothingToEvaluate(f"no mix recipe written in {root}: nothing to evaluate")
    return out


def _parquet(rows: list[dict[str, Any]]) -> bytes:
    import pyarrow as pa
    import pyarrow.parquet as pq

    buf = io.BytesIO()
    cols = {k: [r[k] for r in rows] for k in ("id", "text", "n_tokens")}
    pq.write_table(pa.table(cols), buf)
    return buf.getvalue()


def _curve_recipe(base: dict[str, Any], uri: str, rows: list[dict[str, Any]],
                  real_rows: int, multiple: int) -> dict[str, Any]:  # fmt: skip
    """The repetition recipe with fresh real documents added, every real document
    equally likely: ``multiple`` x the unique real tokens at the same budget."""
    if [c["name"] for c in base["components"]] != ["real"]:
        raise ValueError("the repetition recipe should have the one component 'real'")
    total = real_rows + len(rows)
    comps = [*base["components"], {"name": "real_extra", "builder": "parquet",
                                   "data_files": [uri], "where": None}]  # fmt: skip
    return {
        **base,
        "kind": KIND,
        "recipe": curve_arm(multiple),
        "components": comps,
        "probabilities": [real_rows / total, len(rows) / total],
        "num_rows": total,
    }


def same_mixes(arms: dict[str, dict[str, Any]]) -> dict[str, str]:
    """Arms whose mix is another arm's, to train once: in a corpus of stitched megadocs
    ``maga_mix_stitch`` is ``maga_mix`` (the recipes first, then the per-form mixes)."""
    keys = ("components", "probabilities", "seed", "sampling", "num_rows", "stopping_strategy")
    first: dict[str, str] = {}
    same = {}
    for name in sorted(arms, key=lambda n: (n.startswith("maga_mix_"), n)):
        key = dumps_json({k: arms[name].get(k) for k in keys})
        if key in first:
            same[name] = first[key]
        else:
            first[key] = name
    return same


def fingerprint(ctx: RunContext, recipes: dict[str, dict[str, Any]], picked: dict[str, Any]) -> str:
    h = hashlib.sha256()
    h.update(ctx.config.mix_eval.model_dump_json(exclude={"gate"}).encode())
    h.update(ctx.config.corpus.model_dump_json().encode())
    for name, recipe in sorted(recipes.items()):
        h.update(name.encode() + dumps_json(recipe).encode())
        for comp in recipe["components"]:
            for f in comp["data_files"]:
                h.update(ctx.storage.etag(f).encode())
    for doc in picked["heldout"] + picked["extra"]:
        h.update(doc["id"].encode())
    return h.hexdigest()[:16]


class PlanStage:
    name = "plan"
    reads: tuple[str, ...] = ()
    writes = ("plan/plan.json", "plan/heldout.json")

    def run(self, ctx: RunContext) -> StageStats:
        from maga.mix.export import mix_root
        from maga.refresh.layout import output_root
        from maga.refresh.manifest import load_manifest

        cfg, storage, stats = ctx.config, ctx.storage, StageStats()
        output = output_root(cfg)
        root = mix_root(cfg.refresh.mix, output)
        recipes = _recipes(ctx, root)
        manifest = load_manifest(storage, output)
        excluded = heldout.Excluded(cfg.mix_eval.ngram)
        base = recipes.get(BASELINE) or next(iter(recipes.values()))
        real = next(c for c in base["components"] if c["name"] == "real")
        real_tokens = real_rows = 0
        for row in component_dataset(real, repeat=False):
            excluded.add("sources", row["id"], row["text"])
            real_tokens += int(row["n_tokens"])
            real_rows += 1
        sample, sample_where = heldout.labeling_sample(storage, cfg, manifest)
        for doc in sample:
            excluded.add("labeling_sample", doc["id"], doc["text"])
        tok = cfg.mix_eval.proxy.tokenizer
        picked = heldout.select(cfg, storage, excluded, real_tokens if BASELINE in recipes else 0,
                                lambda text: len(data.encode(tok, [text])[0]) - 1)  # fmt: skip
        proof = heldout.disjointness(excluded, picked["heldout"] + picked["extra"])
        if not proof["disjoint"]:
            raise RuntimeError(f"held-out documents overlap the sources: {proof}")
        arms = dict(recipes)
        if BASELINE in recipes:
            for m in cfg.mix_eval.curve_multiples[1:]:
                goal, rows = (m - 1) * real_tokens, []
                for doc in picked["extra"]:
                    if sum(r["n_tokens"] for r in rows) >= goal:
                        break
                    rows.append(doc)
                uri = ctx.uri("plan", f"{curve_arm(m)}.parquet")
                storage.write_bytes(uri, _parquet(rows))
                arms[curve_arm(m)] = _curve_recipe(recipes[BASELINE], uri, rows, real_rows, m)
        same = same_mixes(arms)
        arms = {name: recipe for name, recipe in arms.items() if name not in same}
        fp = fingerprint(ctx, recipes, picked)
        earlier = join_uri(registry_root(ctx), fp, "result.json")
        skipped = storage.exists(earlier)
        storage.write_json(ctx.uri("plan", "heldout.json"), picked["heldout"])
        plan = {"fingerprint": fp, "output": output, "mixes": root, "recipes": sorted(recipes),
                "arms": {} if skipped else arms, "same_as": same, "skipped": skipped,
                "earlier_result": earlier if skipped else None, "real_tokens": real_tokens,
                "extra_tokens": picked["extra_tokens"], "reference": picked["reference"],
                "refused_candidates": picked["refused"], "disjointness": proof,
                "labeling_sample": sample_where, "refresh": _refresh_runs(manifest)}  # fmt: skip
        storage.write_json(ctx.uri("plan", "plan.json"), plan)
        stats.docs_in, stats.docs_out = len(recipes), len(plan["arms"])
        stats.extra.update({"unit": "arms", "fingerprint": fp, "skipped": skipped,
                            "heldout_docs": len(picked["heldout"]), "disjoint": proof["disjoint"],
                            "arms": sorted(plan["arms"]), "same_as": same})  # fmt: skip
        if skipped:
            log.info("mix evaluation %s already done: %s; nothing to train", fp, earlier)
        return stats


def _refresh_runs(manifest: dict[str, Any]) -> dict[str, Any]:
    """The refresh runs and tool-model versions that made the published shards."""
    entries = [e for e in manifest.get("shards", {}).values() if e.get("status") == "published"]
    return {"run_ids": sorted({e.get("run_id") for e in entries if e.get("run_id")}),
            "tool_model_versions": sorted({str(e.get("tool_model_version")) for e in entries
                                           if e.get("tool_model_version")}),
            "manifest_updated_at": manifest.get("updated_at")}  # fmt: skip
