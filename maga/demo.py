"""``maga demo``: the tool-models pipeline on the demo profile, then a corpus refresh
with the tool models it registered, on a small corpus of JSONL shards cut from the
built-in Wikipedia summaries (documents the labeling sample never saw)."""

from __future__ import annotations

from pathlib import Path

from maga.corpus.builtin import write_sample_shards
from maga.log import get_logger

log = get_logger("demo")


def write_demo_shards(folder: Path) -> list[Path]:
    """The demo's refresh corpus: the built-in sample shards, as local files."""
    from maga.storage import Storage

    return [Path(u) for u in write_sample_shards(Storage(), str(folder))]
