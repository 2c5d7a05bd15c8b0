"""What a generation job is: the model to load, the decode benchmark, the outcome, and
the request and result files an engine worker process exchanges with its parent.

Public names are re-exported by :mod:`maga.llm.jobs`, the entry point stages import.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from maga.llm.base import Constraint, GenRequest, GenResult, UsageCounter


@dataclass
class ModelSpec:
    """What to load: a resolved local model folder (vLLM) or a served model (HTTP).

    ``lora``: a LoRA adapter folder of the model at ``path`` (vLLM only; the engine
    settings must enable LoRA, ``engine["lora"]``). The engine is the base's: specs that
    differ only in their adapter share one engine, and each request carries its adapter.
    """

    label: str
    path: str
    backend: str = "vllm"
    engine: dict[str, Any] = field(default_factory=dict)
    http: dict[str, Any] = field(default_factory=dict)
    seed: int = 0
    lora: str | None = None


@dataclass
class BenchSpec:
    """Fixed-length decode benchmark run after the main batch (same engine)."""

    prompts: int = 16
    max_tokens: int = 64


@dataclass
class JobOutcome:
    results: list[GenResult]
    usage: UsageCounter
    startup_seconds: float = 0.0
    bench: dict[str, Any] | None = None


class GenerationJobError(RuntimeError):
    pass


def engine_key(spec: ModelSpec) -> str:
    """What the engine loads: the base model, engine settings and seed; never the
    adapter, which each request names (adapters of one base share the engine)."""
    return json.dumps([spec.path, spec.engine, spec.seed], sort_keys=True)


def request_to_dict(req: GenRequest) -> dict[str, Any]:
    data = asdict(req)
    if req.constraint is not None:
        data["constraint"] = {
            "json_schema": req.constraint.json_schema,
            "choice": list(req.constraint.choice) if req.constraint.choice else None,
        }
    return data


def request_from_dict(data: dict[str, Any]) -> GenRequest:
    data = dict(data)
    c = data.pop("constraint", None)
    constraint = None
    if c:
        choice = tuple(c["choice"]) if c.get("choice") else None
        constraint = Constraint(json_schema=c.get("json_schema"), choice=choice)
    return GenRequest(constraint=constraint, **data)


def write_requests(path: Path, requests: list[GenRequest]) -> None:
    """The request file a vLLM worker process reads, one JSON object per line."""
    with path.open("w", encoding="utf-8") as fh:
        for req in requests:
            fh.write(json.dumps(request_to_dict(req), ensure_ascii=False) + "\n")


def read_requests(path: str | Path) -> list[GenRequest]:
    """The requests ``write_requests`` wrote, in order."""
    with open(path, encoding="utf-8") as fh:
        return [request_from_dict(json.loads(line)) for line in fh]


def stream_rows(group: int, requests: list[GenRequest]) -> str:
    """One group's lines of a stream request file (a group's rows are adjacent)."""
    return "".join(json.dumps({"group": group, "request": request_to_dict(r)},
                              ensure_ascii=False) + "\n" for r in requests)  # fmt: skip


def read_stream_rows(path: str | Path) -> Iterator[tuple[int, GenRequest]]:
    """``(group, request)`` of a stream request file, in file order, read lazily."""
    with open(path, encoding="utf-8") as fh:
        for line in fh:
            row = json.loads(line)
            yield int(row["group"]), request_from_dict(row["request"])


def write_results(path: Path, results: list[GenResult]) -> None:
    """The result file an engine process writes for its parent, in request order."""
    with path.open("w", encoding="utf-8") as fh:
        for r in results:
            fh.write(json.dumps(asdict(r), ensure_ascii=False) + "\n")


def read_results(path: Path) -> list[GenResult]:
    """The results a vLLM worker process wrote, in request order."""
    with path.open(encoding="utf-8") as fh:
        return [GenResult(**json.loads(line)) for line in fh]


def bench_requests(requests: list[GenRequest], bench: BenchSpec) -> list[GenRequest]:
    base = requests[: bench.prompts] or [
        GenRequest(messages=[{"role": "user", "content": "Write about the sea."}], max_tokens=1)
    ]
    return [
        GenRequest(
            messages=r.messages,
            max_tokens=bench.max_tokens,
            temperature=0.0,
            ignore_eos=True,
            key=f"bench-{i}",
        )
        for i, r in enumerate(base)
    ]


def bench_figures(results: list[GenResult], seconds: float) -> dict[str, Any]:
    tokens = sum(r.completion_tokens for r in results)
    return {
        "requests": len(results),
        "completion_tokens": tokens,
        "seconds": round(seconds, 3),
        "tokens_per_s": round(tokens / seconds, 2) if seconds > 0 else 0.0,
    }
