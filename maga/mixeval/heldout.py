"""Held-out real documents, and the extra real data of the baseline curve, that neither
the refresh's sources nor the tool models' labeling sample ever contained.

Candidates come from the reference corpus (``mix_eval.reference_uri``, default
``corpus.uri``) in a fixed order (by a hash of the id, so languages and lengths mix).
A candidate is refused when its id is a source's or a labeling-sample document's id,
or when it shares one word ``ngram`` (13 by default, as in decontamination) with any of
them. The first ``heldout_docs`` accepted are the evaluation set; the next ones, up to
``(max multiple - 1) x`` the real tokens, are the fresh real data that the 2x/4x
repetition baselines add. :func:`disjointness` re-checks the chosen documents against
the excluded ones and is what the results record as the proof.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from typing import Any

from maga.config import MagaConfig
from maga.corpus.reader import Quarantined, iter_records
from maga.log import get_logger
from maga.storage import Storage, join_uri
from maga.text import ngrams, tokens

log = get_logger("mixeval.heldout")


@dataclass
class Excluded:
    """Documents the evaluation must never see: ids and hashed word n-grams."""

    n: int
    ids: set[str] = field(default_factory=set)
    grams: set[int] = field(default_factory=set)
    docs: dict[str, int] = field(default_factory=dict)  # origin -> documents

    def add(self, origin: str, doc_id: str, text: str) -> None:
        self.ids.add(str(doc_id))
        self.grams.update(_grams(text, self.n))
        self.docs[origin] = self.docs.get(origin, 0) + 1

    def overlaps(self, doc_id: str, text: str) -> str | None:
        if str(doc_id) in self.ids:
            return "id"
        if not self.grams.isdisjoint(_grams(text, self.n)):
            return "ngram"
        return None


def _grams(text: str, n: int) -> set[int]:
    return {int.from_bytes(hashlib.blake2b(g.encode(), digest_size=8).digest(), "big")
            for g in ngrams(tokens(text), n)}  # fmt: skip


def labeling_sample(storage: Storage, config: MagaConfig, manifest: dict[str, Any]) -> tuple[
        list[dict[str, Any]], str]:  # fmt: skip
    """The labeling sample of the tool models that made the published shards (through
    the registry's run folder), and where it was read or why it was not found."""
    from maga.registry.manifest import find_manifest, read_manifest, registry_root
    from maga.runs.context import resolve_root

    versions = sorted({str(e.get("tool_model_version")) for e in manifest.get("shards", {}).values()
                       if e.get("status") == "published" and e.get("tool_model_version")})  # fmt: skip
    docs, where = [], []
    for version in versions:
        try:
            entry = read_manifest(storage, find_manifest(
                storage, registry_root(resolve_root(config.storage.root)), version))  # fmt: skip
        except Exception as exc:  # noqa: BLE001 - recorded: the proof says what it covers
            where.append(f"v{version}: registry entry unreadable ({exc})")
            continue
        uri = join_uri(entry.run_uri, "sample", "sample.jsonl") if entry.run_uri else None
        if not uri or not storage.exists(uri):
            where.append(f"v{version}: no labeling sample at {uri}")
            continue
        from maga.jsonl import read_jsonl

        docs.extend(read_jsonl(storage, uri))
        where.append(f"v{version}: {uri}")
    return docs, "; ".join(where) or "no tool-model version recorded"


def select(config: MagaConfig, storage: Storage, excluded: Excluded, real_tokens: int,
           count_tokens: Any) -> dict[str, Any]:  # fmt: skip
    """The held-out documents and the extra real documents of the baseline curve."""
    ev = config.mix_eval
    corpus = config.corpus.model_copy(update={"uri": ev.reference_uri or config.corpus.uri,
                                              "limit": None})  # fmt: skip
    quarantine: list[Quarantined] = []
    candidates = [r for r in iter_records(corpus, storage, quarantine)
                  if len(r.text) >= ev.min_doc_chars]  # fmt: skip
    candidates.sort(key=lambda r: hashlib.sha1(r.id.encode()).hexdigest())
    extra_goal = (max(ev.curve_multiples) - 1) * real_tokens
    heldout, extra, refused, extra_tokens = [], [], {"id": 0, "ngram": 0}, 0
    for rec in candidates:
        if len(heldout) >= ev.heldout_docs and extra_tokens >= extra_goal:
            break
        why = excluded.overlaps(rec.id, rec.text)
        if why:
            refused[why] += 1
            continue
        doc = {"id": rec.id, "text": rec.text, "lang": rec.lang or "und"}
        if len(heldout) < ev.heldout_docs:
            heldout.append(doc)
        else:
            doc["n_tokens"] = count_tokens(rec.text)
            extra.append(doc)
            extra_tokens += doc["n_tokens"]
    if len(heldout) < ev.heldout_docs:
        raise ValueError(f"mix_eval.heldout_docs: only {len(heldout)} documents of "
                         f"{corpus.uri} are disjoint from the sources and the labeling "
                         f"sample; {ev.heldout_docs} asked")  # fmt: skip
    return {"heldout": heldout, "extra": extra, "extra_tokens": extra_tokens,
            "extra_goal": extra_goal, "refused": refused, "reference": corpus.uri}  # fmt: skip


def disjointness(excluded: Excluded, chosen: list[dict[str, Any]]) -> dict[str, Any]:
    """The proof the results record: shared ids and documents sharing an n-gram."""
    ids = sorted({d["id"] for d in chosen} & excluded.ids)
    grams = [
        d["id"] for d in chosen if not excluded.grams.isdisjoint(_grams(d["text"], excluded.n))
    ]
    return {"checked_docs": len(chosen), "excluded_docs": dict(excluded.docs),
            "ngram": excluded.n, "shared_ids": ids, "docs_sharing_ngram": grams,
            "disjoint": not ids and not grams}  # fmt: skip


def buckets(doc: dict[str, Any], edges: list[int]) -> list[str]:
    """The groups a held-out document counts in: all, its language, its length bucket."""
    n = len(doc["text"])
    bucket = next((f"<{e}" for e in edges if n < e), f">={edges[-1]}" if edges else "all")
    return ["all", f"lang:{doc['lang']}", f"chars:{bucket}"]
