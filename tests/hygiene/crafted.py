"""Crafted text with known answers, shared by the hygiene tests: real Wikipedia
summaries, near-duplicates of them made by small edits, and a benchmark file."""

from __future__ import annotations

import itertools
import json
from pathlib import Path

from maga.corpus.builtin import wiki_records


def wiki(lang: str, n: int, min_chars: int = 500, skip: int = 0) -> list[str]:
    texts = (r["text"] for r in wiki_records([lang]) if len(r["text"]) >= min_chars)
    return list(itertools.islice(texts, skip, skip + n))


def near_copy(text: str) -> str:
    """The same text with one word changed, upper-cased and its punctuation changed: about
    0.9 Jaccard on word 5-grams for a 500-character summary."""
    words = text.split()
    words[len(words) // 2] = "notably"
    return " ".join(words).upper().replace(",", ";")


def benchmark_file(folder: Path, questions: list[str]) -> Path:
    """A small JSONL benchmark in the common question/answer shape."""
    path = folder / "bench.jsonl"
    with path.open("w", encoding="utf-8") as fh:
        for i, q in enumerate(questions):
            fh.write(json.dumps({"id": i, "question": q, "answer": "B", "choices": ["a", "b"]}))
            fh.write("\n")
    return path
