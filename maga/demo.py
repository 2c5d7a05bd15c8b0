"""``maga demo``: the tool-models pipeline on the demo profile, then a corpus refresh
with the tool models it registered, on a small corpus of JSONL shards cut from the
built-in Wikipedia summaries (documents the labeling sample never saw)."""

from __future__ import annotations

import json
from pathlib import Path

from maga.corpus.builtin import wiki_records
from maga.log import get_logger

log = get_logger("demo")


def write_demo_shards(
    folder: Path, shards: int = 2, docs_per_shard: int = 3, skip: int = 3000
) -> list[Path]:
    """Write ``shards`` JSONL files of short English summaries; idempotent."""
    folder.mkdir(parents=True, exist_ok=True)
    picked = []
    for i, rec in enumerate(wiki_records(["en"])):
        if i >= skip and 300 <= len(rec["text"]) <= 700:
            picked.append({"id": rec["id"], "text": rec["text"], "lang": rec["lang"]})
        if len(picked) == shards * docs_per_shard:
            break
    paths = []
    for s in range(shards):
        path = folder / f"part-{s:05d}.jsonl"
        rows = picked[s * docs_per_shard : (s + 1) * docs_per_shard]
        text = "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows)
        if not path.exists() or path.read_text() != text:
            path.write_text(text)
        paths.append(path)
    return paths
