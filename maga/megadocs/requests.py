"""Generation requests of ``stretch``: a rationale per passage, and its judgement."""

from __future__ import annotations

from typing import Any

from maga.config import MagaConfig
from maga.labeling.common import doc_seed, truncate
from maga.labeling.schemas import judge_schema
from maga.llm.base import Constraint, GenRequest
from maga.prompts.render import judge_rationale_messages, rationale_messages


def context(cfg: MagaConfig, text: str, start: int, end: int) -> str:
    """The document as prompted: all of it when short, else a window around the passage
    of ``generation.max_input_chars`` characters."""
    limit = cfg.generation.max_input_chars
    if len(text) <= limit:
        return text
    half = max(0, (limit - (end - start)) // 2)
    lo = max(0, min(start - half, len(text) - limit))
    window, _ = truncate(text[lo:], limit)
    return window


def rationale_request(cfg: MagaConfig, key: str, text: str, start: int, end: int) -> GenRequest:
    s = cfg.refresh.stretch
    return GenRequest(
        messages=rationale_messages(context(cfg, text, start, end), text[start:end]),
        max_tokens=s.max_tokens,
        temperature=cfg.teacher.temperature,
        top_p=cfg.teacher.top_p,
        seed=doc_seed(key, cfg.teacher.seed),
        key=key,
    )


def judge_rationale_request(
    cfg: MagaConfig, key: str, text: str, item: dict[str, Any]
) -> GenRequest:
    start, end = int(item["passage_start"]), int(item["anchor"])
    return GenRequest(
        messages=judge_rationale_messages(context(cfg, text, start, end), text[start:end],
                                          item["text"]),
        max_tokens=cfg.generation.judge_max_tokens,
        temperature=0.0,
        seed=doc_seed(key, cfg.teacher.seed),
        constraint=Constraint(json_schema=judge_schema(cfg.generation.judge_reason_max_chars)),
        key=key,
    )  # fmt: skip
