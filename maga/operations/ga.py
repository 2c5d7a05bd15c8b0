"""Genre-audience pairs (GA): all ``generation.pairs_per_doc`` (genre, audience) pairs
of a document in ONE generation (the paper's "one pass for many"), JSON enforced by
structured outputs and then checked by rules, because small models fill schemas badly
(echo the schema, repeat a pair, leave a field blank) and a truncated generation is not
valid JSON at all.

Rejects, in the order the rules run: ``invalid_json``, ``invalid_structure``,
``wrong_pair_count``, ``empty_field``, ``duplicate_pair``. Row fields: ``valid``,
``reject_reason``, ``pairs`` (empty unless valid).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from maga.llm.base import Constraint, GenRequest
from maga.operations.base import Operation, answer_part, clean_text, doc_seed, load_json_object
from maga.prompts.render import genre_audience_messages

if TYPE_CHECKING:
    from maga.config import MagaConfig


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


@dataclass
class GAParse:
    pairs: list[dict[str, str]]
    reject: str | None  # None when valid


def pair_key(pair: dict[str, str]) -> tuple[str, str]:
    """A pair as compared for repeats: case and whitespace folded."""
    fold = lambda s: re.sub(r"\s+", " ", s).strip().lower()  # noqa: E731
    return fold(pair["genre"]), fold(pair["audience"])


def parse_ga(text: str, n_pairs: int) -> GAParse:
    """Parse a GA generation; ``reject`` names the first rule it breaks."""
    try:
        data = load_json_object(answer_part(text))
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
        pairs.append({"genre": clean_text(genre), "audience": clean_text(audience)})
    if len(pairs) != n_pairs:
        return GAParse(pairs, "wrong_pair_count")
    if any(not p["genre"] or not p["audience"] for p in pairs):
        return GAParse(pairs, "empty_field")
    keys = [pair_key(p) for p in pairs]
    if len(set(keys)) != len(keys):
        return GAParse(pairs, "duplicate_pair")
    return GAParse(pairs, None)


class GenreAudience(Operation):
    name = "genre_audience"
    #: Rule breaks that still leave usable pairs (the refresh keeps the distinct ones).
    partial_rejects = frozenset({"wrong_pair_count", "empty_field", "duplicate_pair"})

    def templates(self, cfg: MagaConfig) -> list[str]:
        return ["genre_audience.system", "genre_audience.user"]

    def schema(self, cfg: MagaConfig) -> dict[str, Any]:
        return ga_schema(cfg.generation.pairs_per_doc, cfg.generation.ga_field_max_chars)

    def messages(self, cfg: MagaConfig, text: str) -> list[dict[str, str]]:
        """The chat of a request (and of the GA-SLM's training examples)."""
        return genre_audience_messages(text, cfg.generation.pairs_per_doc)

    def request(self, cfg: MagaConfig, key: str, text: str) -> GenRequest:
        return GenRequest(
            messages=self.messages(cfg, text),
            max_tokens=cfg.generation.ga_max_tokens,
            temperature=cfg.teacher.temperature,
            top_p=cfg.teacher.top_p,
            seed=doc_seed(key, cfg.teacher.seed),
            constraint=Constraint(json_schema=self.schema(cfg)),
            key=key,
        )

    def parse(self, text: str, n_pairs: int) -> GAParse:
        return parse_ga(text, n_pairs)

    def failed(self, reject: str) -> GAParse:
        return GAParse([], reject)

    def fields(self, parsed: GAParse) -> dict[str, Any]:
        valid = parsed.reject is None
        return {"valid": valid, "reject_reason": parsed.reject,
                "pairs": parsed.pairs if valid else []}  # fmt: skip


GA = GenreAudience()


def ga_reject(row: dict[str, Any]) -> str | None:
    """The reject of a GA row (``reject_reason``; staging written before the teacher's
    and the refresh's rows shared that name has ``reject``)."""
    return row.get("reject_reason", row.get("reject"))
