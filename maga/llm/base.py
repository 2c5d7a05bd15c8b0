"""One interface for every LLM backend (in-process vLLM, OpenAI-compatible HTTP).

Stages build :class:`GenRequest` objects (chat messages plus an optional structured
output constraint) and get back :class:`GenResult` objects in the same order. A
backend never raises for one bad request: the result carries ``error`` instead, so a
malformed or failed generation becomes a counted reject, not a crashed shard.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol


@dataclass(frozen=True)
class Constraint:
    """Structured-output constraint: exactly one of ``json_schema`` or ``choice``."""

    json_schema: dict[str, Any] | None = None
    choice: tuple[str, ...] | None = None

    def __post_init__(self) -> None:
        if (self.json_schema is None) == (self.choice is None):
            raise ValueError("Constraint needs exactly one of json_schema or choice")


@dataclass(frozen=True)
class GenRequest:
    messages: list[dict[str, str]]  # [{"role": "system"|"user"|"assistant", "content": ...}]
    max_tokens: int
    temperature: float = 0.7
    top_p: float = 0.95
    seed: int | None = None
    constraint: Constraint | None = None
    key: str = ""  # caller's id for logs and rejects
    ignore_eos: bool = False  # benchmarks only: always produce max_tokens


@dataclass
class GenResult:
    text: str
    prompt_tokens: int = 0
    completion_tokens: int = 0
    finish_reason: str | None = None  # "stop", "length", ...
    error: str | None = None  # set when the request failed; text is then ""
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return self.error is None


class LLMBackend(Protocol):
    """Generate for a batch of requests; results come back in request order."""

    name: str

    def generate(self, requests: list[GenRequest]) -> list[GenResult]: ...

    def close(self) -> None: ...


@dataclass
class UsageCounter:
    """Accumulates token counts and wall time for a stage's summary."""

    requests: int = 0
    failed: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    seconds: float = 0.0

    def add(self, results: list[GenResult], seconds: float) -> None:
        self.requests += len(results)
        self.failed += sum(1 for r in results if not r.ok)
        self.prompt_tokens += sum(r.prompt_tokens for r in results)
        self.completion_tokens += sum(r.completion_tokens for r in results)
        self.seconds += seconds

    @property
    def tokens_per_s(self) -> float:
        return self.completion_tokens / self.seconds if self.seconds > 0 else 0.0

    def as_dict(self) -> dict[str, Any]:
        return {
            "requests": self.requests,
            "failed_requests": self.failed,
            "prompt_tokens": self.prompt_tokens,
            "completion_tokens": self.completion_tokens,
            "generate_seconds": round(self.seconds, 3),
            "completion_tokens_per_s": round(self.tokens_per_s, 2),
        }
