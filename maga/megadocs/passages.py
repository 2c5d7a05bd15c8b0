"""Where ``stretch`` inserts go: the passages (paragraphs or sentences) of a document.

Passages are character spans of the source text; an insert goes right after a passage's
last non-space character, so removing the inserts gives back the source byte for byte.
"""

from __future__ import annotations

import re
from typing import Literal

# Group 1 is the gap between two passages.
_PARAGRAPH = re.compile(r"(\n\s*)")  # a newline (and the blank space after it) ends one
# A sentence ends at . ! ? (optionally closed by quotes or brackets) before white space.
_SENTENCE = re.compile(r"[.!?][\"')\]]*(\s+)")


def passage_spans(text: str, unit: Literal["paragraph", "sentence"]) -> list[tuple[int, int]]:
    """``(start, end)`` of each non-blank passage; ``end`` excludes trailing space."""
    pattern = _PARAGRAPH if unit == "paragraph" else _SENTENCE
    spans, start = [], 0
    for match in pattern.finditer(text):
        spans.append((start, match.start(1)))
        start = match.end()
    spans.append((start, len(text)))
    out = []
    for s, e in spans:
        piece = text[s:e]
        if not piece.strip():
            continue
        lead = len(piece) - len(piece.lstrip())
        trail = len(piece) - len(piece.rstrip())
        out.append((s + lead, e - trail))
    return out


def group_spans(spans: list[tuple[int, int]], most: int) -> list[tuple[int, int]]:
    """At most ``most`` spans: consecutive passages merged into evenly sized groups."""
    if len(spans) <= most:
        return list(spans)
    groups = []
    for g in range(most):
        first = g * len(spans) // most
        last = (g + 1) * len(spans) // most - 1
        groups.append((spans[first][0], spans[last][1]))
    return groups


def insert_points(text: str, unit: Literal["paragraph", "sentence"], most: int) -> list[list[int]]:
    """``[start, end]`` of each (grouped) passage; the insert goes at ``end``."""
    return [[s, e] for s, e in group_spans(passage_spans(text, unit), most)]
