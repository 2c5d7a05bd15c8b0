"""Genre-audience pairs for the corpus refresh: as many distinct pairs per document as
``refresh.generations_per_source`` asks for, never a repeat.

The GA-SLM was trained to write ``generation.pairs_per_doc`` pairs in one pass (the
paper's "one pass for many"). To reach more generations per source (the megadocs curve
goes to 32), it is called again for the documents still short, each round with a seed of
its own, and only pairs not seen before for that document are kept (compared after
folding case and whitespace). Rounds stop when every document has its pairs or after
``ceil(target / pairs_per_doc) + refresh.ga_extra_rounds`` calls.

Round 0 asks exactly what the single-pass stage asked (same key, same seed), so with
the default of 5 generations the first round is unchanged. A malformed generation
costs its round, never the document: the reason is counted, and a document that ends
with no pair at all is rejected with the first reason seen.
"""

from __future__ import annotations

import math
import re
from collections import Counter
from typing import Any

from maga.config import MagaConfig
from maga.labeling.common import ga_request
from maga.labeling.schemas import parse_ga
from maga.llm.base import UsageCounter
from maga.llm.jobs import EngineSession, ModelSpec

# Rule breaks that still leave usable pairs: the distinct, non-empty ones are kept.
_PARTIAL = {None, "duplicate_pair", "wrong_pair_count", "empty_field"}


def pair_key(pair: dict[str, str]) -> tuple[str, str]:
    fold = lambda s: re.sub(r"\s+", " ", s).strip().lower()  # noqa: E731
    return fold(pair["genre"]), fold(pair["audience"])


def max_rounds(cfg: MagaConfig) -> int:
    per_call = cfg.generation.pairs_per_doc
    return math.ceil(cfg.refresh.generations_per_source / per_call) + cfg.refresh.ga_extra_rounds


def round_key(unit_id: str, round_no: int) -> str:
    """Request key (and seed source) of one round; round 0 is the unit id itself."""
    return unit_id if round_no == 0 else f"{unit_id}~ga{round_no}"


def collect_pairs(
    cfg: MagaConfig, session: EngineSession, spec: ModelSpec, units: list[dict[str, Any]]
) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """One row per unit (the ``ga`` chunk rows) and the summed usage of every round."""
    target, per_call = cfg.refresh.generations_per_source, cfg.generation.pairs_per_doc
    state = {
        u["unit_id"]: {"pairs": [], "keys": set(), "events": Counter(), "first_reject": None,
                       "raw": "", "prompt_tokens": 0, "completion_tokens": 0, "rounds": 0}
        for u in units
    }  # fmt: skip
    usage = UsageCounter()
    for round_no in range(max_rounds(cfg)):
        pending = [u for u in units if len(state[u["unit_id"]]["pairs"]) < target]
        if not pending:
            break
        requests = [ga_request(cfg, round_key(u["unit_id"], round_no), u["text"]) for u in pending]
        outcome = session.generate(spec, requests)
        usage.add(outcome.results, outcome.usage.seconds)
        for u, res in zip(pending, outcome.results, strict=True):
            st = state[u["unit_id"]]
            st["rounds"] += 1
            st["prompt_tokens"] += res.prompt_tokens
            st["completion_tokens"] += res.completion_tokens
            parsed = parse_ga(res.text, per_call) if res.ok else None
            reject = parsed.reject if parsed else f"generation_error:{res.error}"
            if reject is not None:
                st["events"][reject.split(":")[0]] += 1
            if reject not in _PARTIAL:
                st["first_reject"] = st["first_reject"] or reject
                st["raw"] = res.text[:300]
                continue
            for pair in parsed.pairs:
                key = pair_key(pair)
                if not pair["genre"] or not pair["audience"]:
                    continue
                if key in st["keys"]:
                    st["events"]["repeated_pair"] += 1
                    continue
                if len(st["pairs"]) < target:
                    st["keys"].add(key)
                    st["pairs"].append(pair)
    rows = []
    for u in units:
        st = state[u["unit_id"]]
        reject = None if st["pairs"] else (st["first_reject"] or "no_distinct_pairs")
        rows.append({"unit_id": u["unit_id"], "source_id": u["source_id"], "part": u["part"],
                     "pairs": st["pairs"], "reject": reject, "raw": st["raw"] if reject else "",
                     "rounds": st["rounds"], "short": max(0, target - len(st["pairs"])),
                     "events": dict(st["events"]), "prompt_tokens": st["prompt_tokens"],
                     "completion_tokens": st["completion_tokens"]})  # fmt: skip
    return rows, usage.as_dict()
