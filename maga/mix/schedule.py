"""Which component each row of a mix comes from: exact proportions, seeded order.

Sampling components independently at their probabilities (``datasets``'
``interleave_datasets``) hits the declared shares only in expectation: with a few
thousand rows, or components whose rows differ a lot in length (a megadoc against a
paragraph), the token shares of one draw can be several percent off. The stratified
schedule removes that noise. Rows are laid out in blocks; within a block each
component gets the rows that keep its running count closest to ``probability * n``
(largest deficit first, so after every block no count is more than one row from its
target), and the block's order is shuffled with the seed. The result is random in
order, reproducible from the seed, and exact in proportion.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence

import numpy as np

BLOCK = 1024


def _validate(probabilities: Sequence[float]) -> np.ndarray:
    p = np.asarray(probabilities, dtype=float)
    if p.ndim != 1 or not len(p) or (p < 0).any() or not np.isclose(p.sum(), 1.0):
        raise ValueError(f"probabilities must be non-negative and sum to 1, got {list(p)}")
    return p / p.sum()


def block_counts(p: np.ndarray, done: np.ndarray, size: int) -> np.ndarray:
    """Rows per component for the next ``size`` rows, given the counts ``done``."""
    counts = np.zeros(len(p), dtype=np.int64)
    n = int(done.sum())
    for i in range(size):
        deficit = p * (n + i + 1) - (done + counts)
        counts[int(np.argmax(deficit))] += 1
    return counts


def stratified(probabilities: Sequence[float], seed: int, block: int = BLOCK) -> Iterator[int]:
    """Endless component indices with exact per-block proportions in a seeded order."""
    p = _validate(probabilities)
    rng = np.random.default_rng(seed)
    done = np.zeros(len(p), dtype=np.int64)
    while True:
        counts = block_counts(p, done, block)
        done += counts
        labels = np.repeat(np.arange(len(p)), counts)
        rng.shuffle(labels)
        yield from (int(k) for k in labels)
