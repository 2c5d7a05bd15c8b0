"""A local refresh workspace for the fast tests: storage root, tool-model registry,
source folder, and a runner that uses ``FakeSession`` instead of a vLLM engine."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from maga.refresh.pipeline import DAG_ID, RefreshIncomplete, run_all
from maga.runs.context import RunContext
from maga.storage import Storage
from tests.refresh.helpers import FakeSession, refresh_config, register_via_stage, shard_bytes

# No model on disk: token counts use the built-in tiny tokenizer (built once, cached).
FAST = (
    "refresh.judge=reformulation_slm",
    "refresh.chunk_docs=2",
    "refresh.mix.tokenizer=builtin:tiny-random",
    # docs() reuses the same summaries in every shard; corpus-wide near-dup (which would
    # drop those twins) is tested in tests/hygiene/test_refresh_hygiene.py.
    "refresh.hygiene.near_dup.enabled=false",
)


@dataclass
class Workspace:
    root: Path
    storage: Storage
    models: dict[str, str] | None = None

    @property
    def source(self) -> str:
        return str(self.root / "src")

    @property
    def output(self) -> Path:
        return self.root / "out"

    def shard(self, name: str, records: list, fmt: str = "jsonl") -> str:
        uri = f"{self.source}/{name}.{fmt}"
        self.storage.write_bytes(uri, shard_bytes(records, fmt))
        return uri

    def config(self, *extra: str, output: str | None = None) -> Any:
        return refresh_config(
            str(self.root), self.source, output or str(self.output), *FAST, *extra
        )

    def run(
        self,
        run_id: str,
        *extra: str,
        session: Any = None,
        output: str | None = None,
        complete: bool = True,
    ) -> RunContext:
        ctx = RunContext.create(self.config(*extra, output=output), DAG_ID, run_id)
        if complete:
            run_all(ctx, session or FakeSession())
        else:
            with pytest.raises(RefreshIncomplete):
                run_all(ctx, session or FakeSession())
        return ctx

    def report(self, ctx: RunContext) -> dict:
        return self.storage.read_json(ctx.uri("report.json"))

    def manifest(self, output: Path | None = None) -> dict:
        return self.storage.read_json(str((output or self.output) / "manifest.json"))


@pytest.fixture
def ws(tmp_path: Path) -> Workspace:
    """The tool models registered by the real register stage, in four distinct folders
    (``ws.models``); the fake engine records which one each request was sent to."""
    storage = Storage()
    ws = Workspace(tmp_path, storage)
    ws.models = register_via_stage(storage, str(tmp_path))
    return ws
