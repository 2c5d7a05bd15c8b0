"""``stretch``: the source document with a generated rationale after its passages.

Each insert is the separator followed by the rationale, placed at the end of its
passage. Inserts whose rationale was dropped by cleaning are simply not placed, and the
recorded spans locate every insert in the result, so deleting them restores the source.
"""

from __future__ import annotations

from typing import Any


def stretch(source_text: str, inserts: list[dict[str, Any]], separator: str) -> dict[str, Any]:
    """``inserts``: kept rationales with ``id``, ``anchor`` (source offset) and ``text``."""
    ordered = sorted(inserts, key=lambda r: (r["anchor"], r["id"]))
    out: list[str] = []
    spans: list[list[int]] = []
    prev = pos = 0
    for ins in ordered:
        anchor = int(ins["anchor"])
        if not prev <= anchor <= len(source_text):
            raise ValueError(f"insert {ins['id']}: anchor {anchor} outside the source")
        chunk = source_text[prev:anchor]
        out.append(chunk)
        pos += len(chunk)
        piece = separator + ins["text"]
        out.append(piece)
        spans.append([pos, pos + len(piece)])
        pos += len(piece)
        prev = anchor
    out.append(source_text[prev:])
    return {"text": "".join(out), "members": [r["id"] for r in ordered], "member_spans": spans}


def remove_spans(text: str, spans: list[list[int]]) -> str:
    """``text`` without the given ``[start, end)`` spans (the source of a stretched doc)."""
    keep, prev = [], 0
    for start, end in sorted(spans):
        keep.append(text[prev:start])
        prev = end
    keep.append(text[prev:])
    return "".join(keep)
