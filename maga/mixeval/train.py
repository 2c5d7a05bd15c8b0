"""Step 2 of ``maga_mix_eval``, once per arm (a recipe, or a point of the baseline
curve): train the proxy from scratch at every seed and measure its loss on the held-out
documents, overall, per language and per length bucket. A stage of its own
(``train_<arm>``), so a retried or resumed run keeps the arms already trained."""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from maga.log import get_logger
from maga.mixeval import data, heldout
from maga.mixeval.plan import read_plan
from maga.runs.context import RunContext
from maga.runs.stage import StageStats

log = get_logger("mixeval.train")


def heldout_sets(docs: list[dict[str, Any]], tok: str, seq_len: int,
                 edges: list[int]) -> dict[str, Any]:  # fmt: skip
    """Packed held-out sequences per group (all, lang:xx, chars:<n)."""
    groups: dict[str, list[str]] = defaultdict(list)
    for doc in docs:
        for g in heldout.buckets(doc, edges):
            groups[g].append(doc["text"])
    return {g: data.doc_sequences(texts, tok, seq_len) for g, texts in sorted(groups.items())}


def train_arm(cfg: Any, recipe: dict[str, Any], docs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Every seed of one arm: the same proxy, budget and held-out set."""
    import torch

    from maga.mixeval.proxy import train_and_evaluate

    ev = cfg.mix_eval
    proxy = ev.proxy
    if proxy.threads:
        torch.set_num_threads(proxy.threads)
    sets = heldout_sets(docs, proxy.tokenizer, proxy.seq_len, ev.length_buckets)
    seqs = data.mix_sequences(recipe, proxy.tokenizer, proxy.seq_len,
                              proxy.steps * proxy.batch_size)  # fmt: skip
    vocab = data.vocab_size(proxy.tokenizer)
    runs = []
    for seed in ev.seeds:
        result = train_and_evaluate(proxy, seqs, sets, vocab, seed)
        log.info("%s seed %d: held-out loss %.4f (%.1fs)", recipe.get("recipe"), seed,
                 result["loss"]["all"], result["train_seconds"])  # fmt: skip
        runs.append(result)
    return runs


class TrainArmStage:
    """``train_<arm>``: the proxy trained on one arm's data at every seed."""

    reads = ("plan/plan.json", "plan/heldout.json")

    def __init__(self, arm: str):
        self.arm = arm
        self.name = f"train_{arm}"
        self.writes = (f"{self.name}/runs.json",)

    def run(self, ctx: RunContext) -> StageStats:
        plan = read_plan(ctx)
        if self.arm not in plan["arms"]:
            raise ValueError(f"arm {self.arm!r} is not in this run's plan "
                             f"({', '.join(plan['arms']) or 'none'})")  # fmt: skip
        docs = ctx.storage.read_json(ctx.uri("plan", "heldout.json"))
        runs = train_arm(ctx.config, plan["arms"][self.arm], docs)
        ctx.storage.write_json(ctx.uri(self.name, "runs.json"), runs)
        stats = StageStats(docs_in=len(docs), docs_out=len(runs))
        stats.extra.update({"unit": "seeds", "arm": self.arm,
                            "loss": [r["loss"]["all"] for r in runs],
                            "train_seconds": [r["train_seconds"] for r in runs],
                            "train_tokens": runs[0]["train_tokens"]})  # fmt: skip
        return stats
