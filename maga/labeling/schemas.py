"""JSON schemas handed to structured outputs, and the rule checks applied after them.

Structured outputs keep the shape right most of the time; the rules below still run
because small models fill schemas badly (echo the schema, repeat a pair, leave a
field blank) and a truncated generation is not valid JSON at all.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any


def ga_schema(n_pairs: int, max_chars: int) -> dict[str, Any]:
    field = {"type": "string", "minLength": 1, "maxLength": max_chars}
    return {
        "type": "object",
        "properties": {
            "pairs": {
                "type": "array",
                "minItems": n_pairs,
                "maxItems": n_pairs,
                "items": {
                    "type": "object",
                    "properties": {"genre": field, "audience": field},
                    "required": ["genre", "audience"],
                    "additionalProperties": False,
                },
            }
        },
        "required": ["pairs"],
        "additionalProperties": False,
    }


def judge_schema(reason_max_chars: int = 200) -> dict[str, Any]:
    return {
        "type": "object",
        "properties": {
            "score": {"type": "integer", "enum": [1, 2, 3, 4, 5]},
            "reason": {"type": "string", "maxLength": reason_max_chars},
        },
        "required": ["score", "reason"],
        "additionalProperties": False,
    }


@dataclass
class GAParse:
    pairs: list[dict[str, str]]
    reject: str | None  # None when valid


def _norm(text: str) -> str:
    return re.sub(r"\s+", " ", text).strip().lower()


_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")


def _clean(text: str) -> str:
    """Drop control characters (grammar-constrained small models emit them raw)."""
    return _CONTROL.sub("", text).strip()


def _load_json_object(text: str) -> Any:
    """Lenient json.loads (raw control characters allowed inside strings), falling back
    to the outermost {...} span, since models add chatter around the object."""
    try:
        return json.loads(text, strict=False)
    except json.JSONDecodeError:
        start, end = text.find("{"), text.rfind("}")
        if start == -1 or end <= start:
            raise
        return json.loads(text[start : end + 1], strict=False)


def parse_ga(text: str, n_pairs: int) -> GAParse:
    """Parse a GA generation; ``reject`` names the first rule it breaks."""
    try:
        data = _load_json_object(text)
    except (json.JSONDecodeError, ValueError):
        return GAParse([], "invalid_json")
    raw = data.get("pairs") if isinstance(data, dict) else data
    if not isinstance(raw, list):
        return GAParse([], "invalid_structure")
    pairs: list[dict[str, str]] = []
    for item in raw:
        if not isinstance(item, dict):
            return GAParse([], "invalid_structure")
        genre, audience = item.get("genre"), item.get("audience")
        if not isinstance(genre, str) or not isinstance(audience, str):
            return GAParse([], "invalid_structure")
        pairs.append({"genre": _clean(genre), "audience": _clean(audience)})
    if len(pairs) != n_pairs:
        return GAParse(pairs, "wrong_pair_count")
    if any(not p["genre"] or not p["audience"] for p in pairs):
        return GAParse(pairs, "empty_field")
    keys = [(_norm(p["genre"]), _norm(p["audience"])) for p in pairs]
    if len(set(keys)) != len(keys):
        return GAParse(pairs, "duplicate_pair")
    return GAParse(pairs, None)


@dataclass
class JudgeParse:
    score: int | None
    reason: str
    reject: str | None


_SCORE_RE = re.compile(r'"?score"?\s*[:=]\s*"?([1-5])\b', re.IGNORECASE)


def parse_judge(text: str) -> JudgeParse:
    """Read ``{"score": n, "reason": ...}``; tolerate chatter around it, else reject."""
    try:
        data = _load_json_object(text)
        score = data.get("score") if isinstance(data, dict) else None
        if isinstance(score, str) and score.strip().isdigit():
            score = int(score.strip())
        if isinstance(score, int) and not isinstance(score, bool) and 1 <= score <= 5:
            reason = data.get("reason", "")
            return JudgeParse(score, _clean(reason) if isinstance(reason, str) else "", None)
        return JudgeParse(None, "", "score_out_of_range")
    except (json.JSONDecodeError, ValueError):
        match = _SCORE_RE.search(text)
        if match:
            return JudgeParse(int(match.group(1)), "", None)
        return JudgeParse(None, "", "unparseable_judge_output")
