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
from collections import Counter
from collections.abc import Callable, Iterator
from typing import Any

from maga.config import MagaConfig
from maga.llm.base import UsageCounter
from maga.llm.jobs import EngineSession, ModelSpec
from maga.operations import GA, pair_key, reject_kind


def max_rounds(cfg: MagaConfig) -> int:
    per_call = cfg.generation.pairs_per_doc
    return math.ceil(cfg.refresh.generations_per_source / per_call) + cfg.refresh.ga_extra_rounds


def round_key(unit_id: str, round_no: int) -> str:
    """Request key (and seed source) of one round; round 0 is the unit id itself."""
    return unit_id if round_no == 0 else f"{unit_id}~ga{round_no}"


class PairCollector:
    """The pairs gathered so far for a set of units, round by round. It keeps no unit
    text (callers pass the units to :meth:`requests`), so many chunks can be in flight
    with their documents on storage, not in memory."""

    def __init__(self, cfg: MagaConfig, unit_ids: list[str]) -> None:
        self.cfg = cfg
        self.target = cfg.refresh.generations_per_source
        self.per_call = cfg.generation.pairs_per_doc
        self.order = list(unit_ids)
        self.state = {
            uid: {"pairs": [], "keys": set(), "events": Counter(), "first_reject": None,
                  "raw": "", "prompt_tokens": 0, "completion_tokens": 0, "rounds": 0}
            for uid in unit_ids
        }  # fmt: skip
        self.usage = UsageCounter()

    def requests(self, units: list[dict[str, Any]], round_no: int) -> tuple[list[str], list]:
        """The ids of the units still short of pairs, and their requests for this round."""
        pending = [u for u in units if len(self.state[u["unit_id"]]["pairs"]) < self.target]
        reqs = [GA.request(self.cfg, round_key(u["unit_id"], round_no), u["text"]) for u in pending]
        return [u["unit_id"] for u in pending], reqs

    def absorb(self, unit_ids: list[str], results: list[Any], seconds: float) -> None:
        self.usage.add(results, seconds)
        for uid, res in zip(unit_ids, results, strict=True):
            st = self.state[uid]
            st["rounds"] += 1
            st["prompt_tokens"] += res.prompt_tokens
            st["completion_tokens"] += res.completion_tokens
            parsed = GA.outcome(res, self.per_call)
            reject = parsed.reject
            if reject is not None:
                st["events"][reject_kind(reject)] += 1
            # A partial reject still leaves usable pairs: the distinct, non-empty ones are kept.
            if reject is not None and reject not in GA.partial_rejects:
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
                if len(st["pairs"]) < self.target:
                    st["keys"].add(key)
                    st["pairs"].append(pair)

    def short(self) -> bool:
        return any(len(st["pairs"]) < self.target for st in self.state.values())

    def rows(self, units: list[dict[str, Any]]) -> list[dict[str, Any]]:
        rows = []
        for u in units:
            st = self.state[u["unit_id"]]
            reject = None if st["pairs"] else (st["first_reject"] or "no_distinct_pairs")
            rows.append({"unit_id": u["unit_id"], "source_id": u["source_id"], "part": u["part"],
                         "pairs": st["pairs"], "reject_reason": reject, "raw": st["raw"] if reject else "",
                         "rounds": st["rounds"], "short": max(0, self.target - len(st["pairs"])),
                         "events": dict(st["events"]), "prompt_tokens": st["prompt_tokens"],
                         "completion_tokens": st["completion_tokens"]})  # fmt: skip
        return rows


def collect_pairs(
    cfg: MagaConfig, session: EngineSession, spec: ModelSpec, units: list[dict[str, Any]]
) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """One row per unit (the ``ga`` chunk rows) and the summed usage of every round."""
    collector = PairCollector(cfg, [u["unit_id"] for u in units])
    for round_no in range(max_rounds(cfg)):
        ids, requests = collector.requests(units, round_no)
        if not ids:
            break
        outcome = session.generate(spec, requests)
        collector.absorb(ids, outcome.results, outcome.usage.seconds)
    return collector.rows(units), collector.usage.as_dict()


def stream_pairs(
    cfg: MagaConfig,
    session: EngineSession,
    spec: ModelSpec,
    chunks: list[int],
    load_units: Callable[[int], list[dict[str, Any]]],
) -> Iterator[tuple[int, list[dict[str, Any]], dict[str, Any]]]:
    """``(chunk, rows, usage)`` for each chunk as soon as it has all its pairs or has used
    its rounds; the same rows :func:`collect_pairs` gives for that chunk alone.

    Each round streams every unfinished chunk's requests through the engine as one call
    (``session.stream``), so the batch does not drain between chunks; ``load_units``
    reads a chunk's units again when its requests or rows are built."""
    collectors: dict[int, PairCollector] = {}
    pending_ids: dict[int, list[str]] = {}
    active = list(chunks)
    rounds = max_rounds(cfg)
    for round_no in range(rounds):
        if not active:
            return

        def groups(round_no: int = round_no, todo: list[int] = active) -> Iterator[tuple]:
            for k in todo:
                units = load_units(k)
                if k not in collectors:
                    collectors[k] = PairCollector(cfg, [u["unit_id"] for u in units])
                pending_ids[k], requests = collectors[k].requests(units, round_no)
                yield k, requests

        still = []
        for k, outcome in session.stream(spec, groups()):
            collector = collectors[k]
            collector.absorb(pending_ids.pop(k), outcome.results, outcome.usage.seconds)
            if round_no == rounds - 1 or not collector.short():
                del collectors[k]
                yield k, collector.rows(load_units(k)), collector.usage.as_dict()
            else:
                still.append(k)
        active = sorted(still)
