"""Small helpers shared by the teacher and student generation stages."""

from __future__ import annotations

import hashlib
from typing import Any

from maga.config import MagaConfig
from maga.labeling.schemas import ga_schema, judge_schema
from maga.llm.base import Constraint, GenRequest
from maga.prompts.render import genre_audience_messages, judge_messages, reformulate_messages
from maga.runs.stage import StageStats


def doc_seed(key: str, base: int = 0) -> int:
    """A per-request seed derived from its key: reruns sample the same tokens."""
    return (int.from_bytes(hashlib.sha256(key.encode()).digest()[:4], "big") + base) % (2**31)


def truncate(text: str, max_chars: int) -> tuple[str, bool]:
    """Cut at the last whitespace before ``max_chars``; the caller counts it."""
    if len(text) <= max_chars:
        return text, False
    cut = text[:max_chars]
    space = cut.rfind(" ")
    return (cut[:space] if space > max_chars // 2 else cut).rstrip(), True


def ga_request(cfg: MagaConfig, doc_id: str, text: str) -> GenRequest:
    g = cfg.generation
    return GenRequest(
        messages=genre_audience_messages(text, g.pairs_per_doc),
        max_tokens=g.ga_max_tokens,
        temperature=cfg.teacher.temperature,
        top_p=cfg.teacher.top_p,
        seed=doc_seed(doc_id, cfg.teacher.seed),
        constraint=Constraint(json_schema=ga_schema(g.pairs_per_doc, g.ga_field_max_chars)),
        key=doc_id,
    )


def rewrite_request(cfg: MagaConfig, key: str, text: str, genre: str, audience: str) -> GenRequest:
    g = cfg.generation
    return GenRequest(
        messages=reformulate_messages(text, genre, audience, g.prompt_variant),
        max_tokens=g.rewrite_max_tokens,
        temperature=cfg.teacher.temperature,
        top_p=cfg.teacher.top_p,
        seed=doc_seed(key, cfg.teacher.seed),
        key=key,
    )


def judge_request(cfg: MagaConfig, key: str, source: str, item: dict[str, Any]) -> GenRequest:
    return GenRequest(
        messages=judge_messages(source, item["genre"], item["audience"], item["text"]),
        max_tokens=cfg.generation.judge_max_tokens,
        temperature=0.0,
        seed=doc_seed(key, cfg.teacher.seed),
        constraint=Constraint(json_schema=judge_schema(cfg.generation.judge_reason_max_chars)),
        key=key,
    )


def record_usage(stats: StageStats, label: str, outcome: Any) -> None:
    """Add a generation job's tokens and speed to the stage stats."""
    usage = outcome.usage.as_dict()
    stats.add_usage(usage)
    models = stats.extra.setdefault("models", {})
    entry = {**usage, "engine_startup_seconds": round(outcome.startup_seconds, 2)}
    if outcome.bench:
        entry["bench"] = outcome.bench
    models[label] = entry
