"""Seeded stratified sampling in one streaming pass.

Each document gets a priority from a hash of (seed, id), so the sample does not
depend on file order and memory stays bounded: per stratum we keep only the
``size`` lowest-priority candidates. Strata are (language, length bucket); the
sample is allocated to strata in proportion to their sizes (largest remainder).
"""

from __future__ import annotations

import hashlib
import heapq
from collections import Counter
from dataclasses import dataclass


def priority(seed: int, doc_id: str) -> int:
    return int.from_bytes(hashlib.sha256(f"{seed}:{doc_id}".encode()).digest()[:8], "big")


def length_bucket(n_chars: int, edges: list[int]) -> str:
    lo = 0
    for edge in edges:
        if n_chars < edge:
            return f"{lo}-{edge - 1}"
        lo = edge
    return f"{lo}+"


@dataclass
class Candidate:
    priority: int
    doc: dict


class StratifiedSampler:
    def __init__(self, size: int, seed: int) -> None:
        self.size, self.seed = size, seed
        self.counts: Counter[tuple] = Counter()
        self._heaps: dict[tuple, list[tuple[int, str, dict]]] = {}

    def offer(self, stratum: tuple, doc: dict) -> None:
        self.counts[stratum] += 1
        heap = self._heaps.setdefault(stratum, [])
        item = (-priority(self.seed, doc["id"]), doc["id"], doc)  # max-heap on priority
        if len(heap) < self.size:
            heapq.heappush(heap, item)
        elif item > heap[0]:
            heapq.heapreplace(heap, item)

    def allocation(self) -> dict[tuple, int]:
        total = sum(self.counts.values())
        if total == 0:
            return {}
        take = min(self.size, total)
        quotas = {s: take * n / total for s, n in self.counts.items()}
        alloc = {s: min(int(q), self.counts[s]) for s, q in quotas.items()}
        order = sorted(quotas, key=lambda s: (-(quotas[s] - int(quotas[s])), str(s)))
        i = 0
        while sum(alloc.values()) < take:
            s = order[i % len(order)]
            if alloc[s] < self.counts[s]:
                alloc[s] += 1
            i += 1
        return alloc

    def sample(self) -> list[dict]:
        chosen: list[tuple[int, dict]] = []
        for stratum, k in self.allocation().items():
            best = sorted(self._heaps[stratum], key=lambda it: -it[0])[:k]
            chosen.extend((-neg, doc) for neg, _, doc in best)
        chosen.sort(key=lambda pair: pair[0])
        return [doc for _, doc in chosen]
