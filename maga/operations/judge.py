"""Judge (Limited Consistency): a score 1-5 and a short reason for one generation, the
score constrained by structured outputs. ``JUDGE`` scores a rewrite against its source
and (genre, audience) pair; ``JUDGE_RATIONALE`` scores a ``stretch`` rationale against
its passage. Both are read by the same parser into the same row fields.

Rejects: ``score_out_of_range``, ``unparseable_judge_output``. Row fields (the teacher's
judge stage, the evaluation of the tool models and the refresh's judged sample alike):
``score`` (None when unparsed), ``judge_reason``, ``judge_reject``.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from maga.llm.base import Constraint, GenRequest
from maga.operations.base import Operation, answer_part, clean_text, doc_seed, load_json_object
from maga.operations.rationale import context
from maga.prompts.render import judge_messages, judge_rationale_messages

if TYPE_CHECKING:
    from maga.config import MagaConfig

#: The output-row fields of a judgement.
FIELDS = ("score", "judge_reason", "judge_reject")


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
class JudgeParse:
    score: int | None
    reason: str
    reject: str | None


_SCORE_RE = re.compile(r'"?score"?\s*[:=]\s*"?([1-5])\b', re.IGNORECASE)


def parse_judge(text: str) -> JudgeParse:
    """Read ``{"score": n, "reason": ...}``; tolerate chatter around it, else reject."""
    text = answer_part(text)
    try:
        data = load_json_object(text)
        score = data.get("score") if isinstance(data, dict) else None
        if isinstance(score, str) and score.strip().isdigit():
            score = int(score.strip())
        if isinstance(score, int) and not isinstance(score, bool) and 1 <= score <= 5:
            reason = data.get("reason", "")
            return JudgeParse(score, clean_text(reason) if isinstance(reason, str) else "", None)
        return JudgeParse(None, "", "score_out_of_range")
    except (json.JSONDecodeError, ValueError):
        match = _SCORE_RE.search(text)
        if match:
            return JudgeParse(int(match.group(1)), "", None)
        return JudgeParse(None, "", "unparseable_judge_output")


class Judge(Operation):
    name = "judge"

    def templates(self, cfg: MagaConfig) -> list[str]:
        return ["judge.system", "judge.user"]

    def schema(self, cfg: MagaConfig) -> dict[str, Any]:
        return judge_schema(cfg.generation.judge_reason_max_chars)

    def messages(self, cfg: MagaConfig, source: str, item: dict[str, Any]) -> list[dict[str, str]]:
        return judge_messages(source, item["genre"], item["audience"], item["text"])

    def request(self, cfg: MagaConfig, key: str, source: str, item: dict[str, Any]) -> GenRequest:
        """Judge ``item`` (its ``text``) against ``source`` as prompted."""
        return GenRequest(
            messages=self.messages(cfg, source, item),
            max_tokens=cfg.generation.judge_max_tokens,
            temperature=0.0,
            seed=doc_seed(key, cfg.teacher.seed),
            constraint=Constraint(json_schema=self.schema(cfg)),
            key=key,
        )

    def parse(self, text: str) -> JudgeParse:
        return parse_judge(text)

    def failed(self, reject: str) -> JudgeParse:
        return JudgeParse(None, "", reject)

    def fields(self, parsed: JudgeParse) -> dict[str, Any]:
        return dict(zip(FIELDS, (parsed.score, parsed.reason, parsed.reject), strict=True))


class JudgeRationale(Judge):
    name = "judge_rationale"

    def templates(self, cfg: MagaConfig) -> list[str]:
        return ["judge.system", "judge_rationale.user"]

    def messages(self, cfg: MagaConfig, source: str, item: dict[str, Any]) -> list[dict[str, str]]:
        """``item`` is a rationale: its passage is ``source[passage_start:anchor]``."""
        start, end = int(item["passage_start"]), int(item["anchor"])
        return judge_rationale_messages(context(cfg, source, start, end), source[start:end],
                                        item["text"])  # fmt: skip


JUDGE = Judge()
JUDGE_RATIONALE = JudgeRationale()
