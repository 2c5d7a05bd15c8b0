"""Training and held-out token sequences for the proxy.

A mix is read through :func:`maga.mix.load_mix` (the same call a user's trainer makes),
each row tokenized with the proxy's tokenizer, an end-of-text token appended, and the
stream cut into windows of ``seq_len + 1`` tokens until the proxy's token budget is
filled. A mix shorter than the budget is read again from the start (more epochs of the
same recipe), so every arm trains on exactly the same number of tokens.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from functools import lru_cache
from typing import Any

import numpy as np

from maga.log import get_logger

log = get_logger("mixeval.data")


@lru_cache(maxsize=4)
def tokenizer(name: str) -> Any:
    from transformers import AutoTokenizer

    from maga.models.builtin import resolve_model

    return AutoTokenizer.from_pretrained(resolve_model(name))


def vocab_size(name: str) -> int:
    return len(tokenizer(name))


def encode(name: str, texts: list[str]) -> list[list[int]]:
    tok = tokenizer(name)
    eos = tok.eos_token_id
    return [ids + [eos] for ids in tok(texts, add_special_tokens=False)["input_ids"]]


def pack(docs: Iterable[list[int]], window: int, limit: int | None = None) -> np.ndarray:
    """Concatenated documents cut into rows of ``window`` tokens (the tail that does
    not fill a row is dropped); at most ``limit`` rows."""
    rows, buf = [], []
    for ids in docs:
        buf.extend(ids)
        while len(buf) >= window:
            rows.append(buf[:window])
            buf = buf[window:]
            if limit is not None and len(rows) >= limit:
                return np.asarray(rows, dtype=np.int64)
    return np.asarray(rows, dtype=np.int64).reshape(-1, window)


def _mix_docs(recipe: str | dict[str, Any], name: str, batch: int = 64) -> Iterator[list[int]]:
    """Token ids of the mix's rows, in its order, read again from the start when it
    ends; stops only when the caller does."""
    from maga.mix import load_mix

    while True:
        texts, seen = [], 0
        for row in load_mix(recipe):
            texts.append(row["text"])
            seen += 1
            if len(texts) == batch:
                yield from encode(name, texts)
                texts = []
        if texts:
            yield from encode(name, texts)
        if not seen:
            raise ValueError(f"mix {recipe if isinstance(recipe, str) else ''} has no rows")


def mix_sequences(recipe: str | dict[str, Any], name: str, seq_len: int, rows: int) -> np.ndarray:
    """``rows`` training windows (``seq_len + 1`` tokens) from the mix."""
    return pack(_mix_docs(recipe, name), seq_len + 1, rows)


def doc_sequences(texts: list[str], name: str, seq_len: int) -> np.ndarray:
    """Documents packed into windows, for the held-out sets and the extra real data."""
    return pack(encode(name, texts), seq_len + 1)
