"""Published rows of one source document in the run's output mode, and their schemas.

* ``documents``: one row per kept rewrite (genre, audience, pair index as provenance);
* ``stitch``: one megadoc per source (:mod:`maga.megadocs.stitch`);
* ``stretch``: the source with its kept rationales inserted (:mod:`maga.megadocs.stretch`).

Every row names its mode, its source and, for megadocs, its members (the ids of the
generations in ``generations/<key>.parquet``) with their character spans, so a row can
be traced back to each generation and, for ``stretch``, to the untouched source.
"""

from __future__ import annotations

from typing import Any

import pyarrow as pa

from maga.config import MagaConfig
from maga.megadocs.stitch import stitch
from maga.megadocs.stretch import stretch
from maga.megadocs.tokens import TokenCounter

S, I32, I64 = pa.string(), pa.int32(), pa.int64()
OUTPUT_SCHEMA = pa.schema([
    ("id", S), ("text", S), ("n_chars", I32), ("n_tokens", I32), ("output_mode", S),
    ("source_id", S), ("source_shard", S), ("prompt_variant", S), ("tool_model_version", I32),
    ("genre", S), ("audience", S), ("part", I32), ("pair_index", I32),
    ("n_generations", I32), ("members", pa.list_(S)), ("member_spans", pa.list_(pa.list_(I32))),
    ("original", S), ("order_seed", I64), ("separator", S), ("insert_unit", S),
])  # fmt: skip
GENERATION_SCHEMA = pa.schema([
    ("id", S), ("source_id", S), ("source_shard", S), ("megadoc_id", S), ("text", S),
    ("n_chars", I32), ("n_tokens", I32), ("genre", S), ("audience", S), ("part", I32),
    ("pair_index", I32), ("passage_start", I32), ("anchor", I32),
])  # fmt: skip
SOURCE_SCHEMA = pa.schema([
    ("id", S), ("text", S), ("n_chars", I32), ("n_tokens", I32), ("expanded", pa.bool_()),
    ("source_shard", S), ("record", I64),
])  # fmt: skip


class Assembler:
    """Builds the published rows of each source document of one shard."""

    def __init__(self, cfg: MagaConfig, version: int, shard_uri: str, tokens: TokenCounter):
        self.cfg, self.version, self.uri, self.tokens = cfg, version, shard_uri, tokens
        self.mode = cfg.refresh.output_mode

    def _base(self, source_id: str, text: str, n_tokens: int | None = None) -> dict[str, Any]:
        n_tokens = self.tokens.count(text) if n_tokens is None else n_tokens
        return {"text": text, "n_chars": len(text), "n_tokens": n_tokens,
                "output_mode": self.mode, "source_id": source_id, "source_shard": self.uri,
                "prompt_variant": self.cfg.generation.prompt_variant,
                "tool_model_version": self.version}  # fmt: skip

    def source_row(self, doc: dict[str, Any], expanded: bool) -> dict[str, Any]:
        return {"id": doc["id"], "text": doc["text"], "n_chars": len(doc["text"]),
                "n_tokens": self.tokens.count(doc["text"]), "expanded": expanded,
                "source_shard": self.uri, "record": doc["record"]}  # fmt: skip

    def generation_rows(self, kept: list[dict[str, Any]]) -> list[dict[str, Any]]:
        counts = self.tokens.count_many([r["text"] for r in kept])
        return [{"id": r["id"], "source_id": r["source_id"], "source_shard": self.uri,
                 "megadoc_id": f"{r['source_id']}#{self.mode}", "text": r["text"],
                 "n_chars": len(r["text"]), "n_tokens": n, "genre": r.get("genre"),
                 "audience": r.get("audience"), "part": r["part"], "pair_index": r["pair_index"],
                 "passage_start": r.get("passage_start"), "anchor": r.get("anchor")}
                for r, n in zip(kept, counts, strict=True)]  # fmt: skip

    def output_rows(self, doc: dict[str, Any], kept: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """The published rows of one source document. ``kept``: its kept generations as
        :meth:`generation_rows` made them; a rewrite published as it is keeps its count."""
        if self.mode == "documents":
            return [{**self._base(r["source_id"], r["text"], r["n_tokens"]), "id": r["id"],
                     "genre": r["genre"], "audience": r["audience"], "part": r["part"],
                     "pair_index": r["pair_index"], "n_generations": 1}
                    for r in kept]  # fmt: skip
        if self.mode == "stitch":
            m = self.cfg.refresh.megadoc
            made = stitch(doc["id"], doc["text"], kept, m)
            return [{**self._base(doc["id"], made["text"]), "id": f"{doc['id']}#stitch",
                     "n_generations": len(kept), "members": made["members"],
                     "member_spans": made["member_spans"], "original": m.original,
                     "order_seed": made["order_seed"], "separator": m.separator}]  # fmt: skip
        s = self.cfg.refresh.stretch
        made = stretch(doc["text"], kept, s.separator)
        return [{**self._base(doc["id"], made["text"]), "id": f"{doc['id']}#stretch",
                 "n_generations": len(kept), "members": made["members"],
                 "member_spans": made["member_spans"], "original": "source",
                 "separator": s.separator, "insert_unit": s.unit}]  # fmt: skip
