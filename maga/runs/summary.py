"""``summary.json``: the run's contract for other tools.

Rebuilt from the stage ``stats.json`` files and gate results after every stage and
gate, so it is complete whichever task ran last and never needs a lock.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from maga.log import get_logger
from maga.runs.context import RunContext
from maga.runs.failures import read_failures
from maga.steps import GATE_ORDER as TOOL_GATES
from maga.steps import REFRESH_STAGE_ORDER as REFRESH_STAGES
from maga.steps import STAGE_ORDER as TOOL_STAGES

log = get_logger("summary")
SCHEMA_VERSION = 1

# Stage folders in pipeline order (both pipelines); anything else found is appended
# alphabetically. Gates in pipeline order. Both come from the pipeline definitions.
KNOWN_ORDER = [*TOOL_STAGES, *REFRESH_STAGES]
GATE_ORDER = list(TOOL_GATES)


def _gate_rank(uri: str) -> tuple[int, str]:
    name = uri.rstrip("/").split("/")[-2]
    return (GATE_ORDER.index(name) if name in GATE_ORDER else len(GATE_ORDER), name)


def _stage_names(ctx: RunContext) -> list[str]:
    found = {
        info.uri[len(ctx.run_uri) :].strip("/").split("/")[0]
        for info in ctx.storage.list(ctx.run_uri, suffixes=("stats.json",))
    }
    found.discard("gates")
    return [n for n in KNOWN_ORDER if n in found] + sorted(found - set(KNOWN_ORDER))


def build_summary(ctx: RunContext) -> dict[str, Any]:
    stages: dict[str, Any] = {}
    artifacts: dict[str, str] = {}
    for name in _stage_names(ctx):
        stats = ctx.storage.read_json(ctx.uri(name, "stats.json"))
        stages[name] = {k: v for k, v in stats.items() if k != "artifacts"}
        for key, uri in (stats.get("artifacts") or {}).items():
            artifacts[f"{name}.{key}"] = uri
    gates: dict[str, Any] = {}
    gate_files = ctx.storage.list(ctx.uri("gates"), suffixes=("gate.json",))
    for info in sorted(gate_files, key=lambda i: _gate_rank(i.uri)):
        result = ctx.storage.read_json(info.uri)
        gates[result["gate"]] = {
            "passed": result["passed"],
            "reason": result.get("reason", ""),
            "checks": [
                {
                    k: c.get(k)
                    for k in ("name", "passed", "observed", "threshold", "blocking", "advisory")
                }
                for c in result.get("checks", [])
            ],
            "report": info.uri[: -len("gate.json")] + "gate.md",
        }
    return {
        "schema_version": SCHEMA_VERSION,
        "dag_id": ctx.dag_id,
        "run_id": ctx.run_id,
        "run_uri": ctx.run_uri,
        "profile": ctx.config.profile,
        "demo_models": ctx.config.demo_models,
        "note": (
            "Model text in this run comes from demo models (weak or random weights); "
            "it shows the pipeline working, not the method's output quality."
            if ctx.config.demo_models
            else ""
        ),
        "updated_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "stages": stages,
        "gates": gates,
        "artifacts": artifacts,
        # why tasks failed (maga.runs.failures), and a corpus refresh's plan (dry or not)
        "failures": read_failures(ctx.storage, ctx.run_uri),
        **({"plan": plan_summary(stages["discover"])} if "discover" in stages else {}),
    }


def plan_summary(discover: dict[str, Any]) -> dict[str, Any]:
    """What a corpus refresh run does (or, dry, would do): shards by status, documents
    in the shards taken now, and where the output goes."""
    counts = discover.get("shard_counts") or {}
    return {
        "dry_run": bool(discover.get("dry_run")),
        "shards": {"new": counts.get("new", 0), "changed": counts.get("changed", 0)
                   + counts.get("stale", 0), "unchanged": counts.get("unchanged", 0),
                   "deferred": discover.get("deferred", 0),
                   "selected": len(discover.get("selected") or [])},
        "documents": discover.get("documents"),
        "source": discover.get("source"),
        "output": discover.get("output"),
    }  # fmt: skip


def refresh_summary(ctx: RunContext) -> str:
    uri = ctx.uri("summary.json")
    ctx.storage.write_json(uri, build_summary(ctx))
    return uri
