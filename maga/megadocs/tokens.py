"""Token counts of published text, with the tokenizer a training run would see.

``refresh.mix.tokenizer`` names it: ``reformulation_slm`` (the run's tool model, whose
tokenizer is its teacher's) or any model path ``maga.models.builtin.resolve_model``
understands. Loaded once per process; counts exclude special tokens.
"""

from __future__ import annotations

from functools import cache
from typing import Any

from maga.log import get_logger

log = get_logger("megadocs.tokens")


@cache
def _load(path: str) -> Any:
    from transformers import AutoTokenizer

    log.info("token counts with the tokenizer of %s", path)
    return AutoTokenizer.from_pretrained(path)


class TokenCounter:
    def __init__(self, path: str) -> None:
        self.path = path
        self.tokenizer = _load(path)

    def count(self, text: str) -> int:
        return len(self.tokenizer(text, add_special_tokens=False)["input_ids"])

    def count_many(self, texts: list[str]) -> list[int]:
        if not texts:
            return []
        ids = self.tokenizer(texts, add_special_tokens=False)["input_ids"]
        return [len(x) for x in ids]


def tokenizer_path(ctx: Any) -> str:
    """The local folder of the configured tokenizer for this run."""
    from maga.models.builtin import resolve_model
    from maga.refresh.discover import read_plan
    from maga.refresh.toolmodels import local_model_dir

    name = ctx.config.refresh.mix.tokenizer
    if name == "reformulation_slm":
        tm = read_plan(ctx)["tool_models"]
        return local_model_dir(ctx.storage, tm["models"]["reformulation_slm"], tm["version"])
    return str(resolve_model(name))


def counter_for(ctx: Any) -> TokenCounter:
    return TokenCounter(tokenizer_path(ctx))
