"""The recorded corpus-refresh run (fixtures/refresh1) must have the shape today's code
writes, or the report tests read strings off a run that can no longer happen.
Regenerate it with ``scripts/regen_refresh_fixture.py``."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pytest

from maga.config import config_from_json
from maga.gates.core import CheckResult, GateResult
from maga.runs.context import RunContext
from maga.runs.summary import build_summary
from maga.steps import REFRESH_SHARD_STEPS, REFRESH_STAGE_ORDER
from tests.report.conftest import copy_refresh1

pytestmark = pytest.mark.timeout(120)
REGEN = "fixture behind the code: run scripts/regen_refresh_fixture.py"


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return copy_refresh1(tmp_path_factory.mktemp("refresh1"))


def test_recorded_summary_has_every_field_and_stage_the_code_writes(run: Path) -> None:
    recorded = json.loads((run / "summary.json").read_text())
    config = config_from_json((run / "config.json").read_text())  # current model, strict
    ctx = RunContext.from_run_uri(str(run), "maga_corpus_refresh", "r1")
    assert config.profile == ctx.config.profile == "tiny"
    current = build_summary(ctx)
    assert set(current) - {"updated_at"} <= set(recorded), f"{REGEN}: summary keys"
    assert list(recorded["stages"]) == list(REFRESH_STAGE_ORDER), f"{REGEN}: stages"


def test_recorded_gates_and_shard_records_have_todays_fields(run: Path) -> None:
    check_fields = {f.name for f in dataclasses.fields(CheckResult)}
    gate_fields = {f.name for f in dataclasses.fields(GateResult)}
    gates = sorted((run / "gates").glob("*/gate.json"))
    assert gates
    for path in gates:
        gate = json.loads(path.read_text())
        assert set(gate) == gate_fields, f"{REGEN}: {path.parent.name}"
        for check in gate["checks"]:
            assert set(check) == check_fields, f"{REGEN}: {path.parent.name} {check['name']}"
    for shard in (run / "shards").iterdir():
        steps = sorted(p.stem for p in shard.glob("*.json"))
        assert steps == sorted(REFRESH_SHARD_STEPS), f"{REGEN}: {shard.name}"
