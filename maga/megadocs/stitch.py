"""``stitch``: one megadoc per source document, made of its kept rewrites.

The rewrites are put in a seeded random order: the permutation depends only on the
configured seed, the source id and the set of rewrite ids, so it is reproducible from
the row alone (``order_seed`` and ``members`` are recorded in it). The original leads
the megadoc, or is left out, as configured; parts are joined by the separator.
"""

from __future__ import annotations

import hashlib
import random
from typing import Any

from maga.config import MegadocConfig


def order_seed(seed: int, source_id: str) -> int:
    """The shuffle seed of one source's megadoc."""
    digest = hashlib.sha256(f"{seed}:{source_id}".encode()).digest()
    return int.from_bytes(digest[:8], "big") >> 1  # fits a signed 64-bit column


def stitch_order(rewrite_ids: list[str], seed: int, source_id: str) -> list[str]:
    """The members' order: a seeded shuffle of the ids sorted (input order is ignored)."""
    ids = sorted(rewrite_ids)
    random.Random(order_seed(seed, source_id)).shuffle(ids)
    return ids


def stitch(source_id: str, source_text: str, rewrites: list[dict[str, Any]],
           cfg: MegadocConfig) -> dict[str, Any]:  # fmt: skip
    """The megadoc of one source: text, members in order and each member's span."""
    by_id = {r["id"]: r for r in rewrites}
    if len(by_id) != len(rewrites):
        raise ValueError(f"stitch {source_id}: rewrite ids repeat")
    order = stitch_order(list(by_id), cfg.seed, source_id)
    parts: list[str] = []
    spans: list[list[int]] = []
    pos = 0

    def add(text: str) -> list[int]:
        nonlocal pos
        if parts:
            parts.append(cfg.separator)
            pos += len(cfg.separator)
        parts.append(text)
        span = [pos, pos + len(text)]
        pos += len(text)
        return span

    if cfg.original == "first":
        add(source_text)
    for rid in order:
        spans.append(add(by_id[rid]["text"]))
    return {
        "text": "".join(parts),
        "members": order,
        "member_spans": spans,
        "order_seed": order_seed(cfg.seed, source_id),
    }
