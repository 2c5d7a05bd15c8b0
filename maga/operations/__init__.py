"""One definition of each MAGA operation: genre-audience pairs (``GA``), rewrite
(``REWRITE``), judge (``JUDGE``, and ``JUDGE_RATIONALE`` for ``stretch`` rationales) and
rationale (``RATIONALE``). Each keeps its prompt, request, schema, tolerant parser,
reject reasons and output-row fields together (see :class:`~maga.operations.base.Operation`);
the teacher stages, the evaluation and the corpus refresh all use them.

Importing this package needs neither Airflow nor vLLM.
"""

from maga.operations.base import (
    GENERATION_ERROR,
    Operation,
    doc_seed,
    reject_kind,
    truncate,
)
from maga.operations.ga import GA, GAParse, ga_schema, pair_key, parse_ga
from maga.operations.judge import JUDGE, JUDGE_RATIONALE, JudgeParse, judge_schema, parse_judge
from maga.operations.rationale import RATIONALE
from maga.operations.rewrite import REWRITE, TextParse, parse_text

__all__ = [
    "GA",
    "GENERATION_ERROR",
    "JUDGE",
    "JUDGE_RATIONALE",
    "RATIONALE",
    "REWRITE",
    "GAParse",
    "JudgeParse",
    "Operation",
    "TextParse",
    "doc_seed",
    "ga_schema",
    "judge_schema",
    "pair_key",
    "parse_ga",
    "parse_judge",
    "parse_text",
    "reject_kind",
    "truncate",
]
