"""Prompt templates are data: plain text files under ``templates/`` with ``${name}``
placeholders. This module loads and fills them, and fails loudly on a missing value."""

from __future__ import annotations

import hashlib
import string
from collections.abc import Iterable
from functools import cache
from pathlib import Path

TEMPLATE_DIR = Path(__file__).parent / "templates"
VARIANTS = ("base", "strict", "relaxed")


@cache
def load_template(name: str) -> string.Template:
    path = TEMPLATE_DIR / f"{name}.txt"
    if not path.exists():
        raise FileNotFoundError(f"prompt template {name!r} not found in {TEMPLATE_DIR}")
    return string.Template(path.read_text(encoding="utf-8").strip())


def templates_digest(names: Iterable[str]) -> str:
    """A hash of the raw text of the named templates: staged and published work made with
    other prompt text is not reused (see ``maga.refresh.layout.data_settings``)."""
    h = hashlib.sha256()
    for name in sorted(set(names)):
        h.update(name.encode() + b"\0" + load_template(name).template.encode() + b"\0")
    return h.hexdigest()[:16]


def all_templates_digest() -> str:
    """``templates_digest`` over every template shipped (what a tool-models run renders)."""
    return templates_digest(p.name.removesuffix(".txt") for p in TEMPLATE_DIR.glob("*.txt"))


def render(name: str, **values: object) -> str:
    template = load_template(name)
    try:
        return template.substitute({k: str(v) for k, v in values.items()})
    except KeyError as exc:
        raise KeyError(f"prompt template {name!r} needs a value for {exc.args[0]!r}") from None


def chat(name: str, **values: object) -> list[dict[str, str]]:
    """System + user messages for the template pair ``<name>.system`` / ``<name>.user``."""
    return [
        {"role": "system", "content": render(f"{name}.system")},
        {"role": "user", "content": render(f"{name}.user", **values)},
    ]


def genre_audience_messages(document: str, n_pairs: int) -> list[dict[str, str]]:
    return chat("genre_audience", document=document, n_pairs=n_pairs)


def reformulate_messages(
    document: str, genre: str, audience: str, variant: str
) -> list[dict[str, str]]:
    if variant not in VARIANTS:
        raise ValueError(f"unknown prompt variant {variant!r}; choose one of {VARIANTS}")
    return [
        {"role": "system", "content": render("reformulate.system")},
        {
            "role": "user",
            "content": render(
                f"reformulate.{variant}.user", document=document, genre=genre, audience=audience
            ),
        },
    ]


def judge_messages(document: str, genre: str, audience: str, rewrite: str) -> list[dict[str, str]]:
    return chat("judge", document=document, genre=genre, audience=audience, rewrite=rewrite)


def rationale_messages(document: str, passage: str) -> list[dict[str, str]]:
    """``stretch`` output: the rationale to insert after ``passage``."""
    return chat("rationale", document=document, passage=passage)


def judge_rationale_messages(document: str, passage: str, rationale: str) -> list[dict[str, str]]:
    return [
        {"role": "system", "content": render("judge.system")},
        {"role": "user", "content": render("judge_rationale.user", document=document,
                                           passage=passage, rationale=rationale)},
    ]  # fmt: skip
