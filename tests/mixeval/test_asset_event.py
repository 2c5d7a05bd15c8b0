"""The hand-off between the two DAGs: the refresh's ``export_mix`` task puts the
published corpus on the ``maga_mix`` Asset event, and ``maga_mix_eval`` takes its
``output`` from the event that triggered it (a form value wins)."""

from __future__ import annotations

from collections import defaultdict
from types import SimpleNamespace

import pytest

from maga.pipelines.corpus_refresh import export_mix_task
from maga.pipelines.mix_eval import event_output
from tests.refresh.helpers import docs

pytestmark = [pytest.mark.timeout(120)]


def _context(task_id: str, run_id: str) -> dict:
    ti = SimpleNamespace(task_id=task_id, dag_id="maga_corpus_refresh", map_index=-1,
                         try_number=1, max_tries=1)  # fmt: skip
    return {"ti": ti, "run_id": run_id, "outlet_events": defaultdict(SimpleNamespace)}


def test_export_mix_event_names_the_output_and_the_eval_reads_it(ws):
    ws.shard("a", docs("a", 3))
    ctx = ws.run("r1")
    context = _context("export_mix", "r1")
    export_mix_task(ctx.run_uri, context, "MIX")
    extra = context["outlet_events"]["MIX"].extra
    assert extra["output"] == str(ws.output) and extra["run_uri"] == ctx.run_uri
    assert extra["recipes"] == ["maga_mix", "repetition", "upsample"]
    event = SimpleNamespace(extra=extra)
    assert event_output({"triggering_asset_events": {"maga_mix": [event]}}) == str(ws.output)
    assert event_output({}) is None
