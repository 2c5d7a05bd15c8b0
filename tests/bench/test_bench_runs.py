"""The benchmark runners end to end, as a user runs them: ``maga bench``, ``maga
bench-lora`` and ``maga bench-gpu --dry-run``, each a process of its own through the
command line, the first two on real vLLM engines (the tiny random model) with the
smallest workload that still measures: one repeat, one shard, a handful of documents.

Each real run guards its headline ratio, taken within the one run (both arms on the same
machine at the same time, so other jobs on a shared machine move both): a regression in
the measured path fails the suite, noise does not.

Measured on this 2-core VM (Intel Xeon, AMX) while other agents loaded it (1-min load
average 10-30; a quiet run was not possible): ``maga bench`` 553 s wall, 208 s CPU;
``maga bench-lora`` 530 s wall, 183 s CPU. Both are mostly single-threaded, so on a
quiet machine each should take about its CPU time (about 3 minutes), not measured.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from maga import throughput

ROOT = Path(__file__).resolve().parents[2]


def _cli(tmp_path: Path, *args: str, timeout: int) -> subprocess.CompletedProcess:
    """``maga <args>``; ``MAGA_HOME``: the profile's relative storage root (where
    ``maga bench`` records its throughput) lies under ``tmp_path``, not in the repo."""
    env = {**os.environ, "PYTHONPATH": str(ROOT), "MAGA_HOME": str(tmp_path)}
    cmd = [sys.executable, "-m", "maga.cli", *args]
    # its own process group: a timeout ends the bench's children and engines too
    proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, start_new_session=True)  # fmt: skip
    try:
        out, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        out, err = proc.communicate()
        pytest.fail(f"{' '.join(args[:1])} ran past {timeout}s\n{out[-2000:]}{err[-4000:]}")
    run = subprocess.CompletedProcess(cmd, proc.returncode, out, err)
    assert run.returncode == 0, run.stdout[-2000:] + run.stderr[-4000:]
    return run


@pytest.mark.timeout(120)
def test_bench_gpu_dry_run_through_the_command_line(tmp_path):
    """``maga bench-gpu --dry-run`` as a user runs it: a process of its own, no engine."""
    out = tmp_path / "plan.json"
    run = _cli(tmp_path, "bench-gpu", "--dry-run", "--out", str(out), timeout=100)
    assert run.stdout.startswith("DRY RUN")
    plan = json.loads(out.read_text())
    assert plan["dry_run"] and plan["configs"] and all("engine_args" in c for c in plan["configs"])


@pytest.mark.slow
@pytest.mark.timeout(900)
def test_bench_tiny_real_run_guards_pipeline_over_one_batch(tmp_path):
    """``maga bench --docs 8 --scale 1 --repeats 1``: one shard task (gate, reformulate,
    clean, validate, an engine session per step; ``refresh.judge_sample=0``, so validate
    checks without a judge engine) with the warm interleaved pass, then the bare engine
    on the same rewrite requests: two engine starts.

    Guard: the pipeline's rewrite pass over one ``generate`` call on the same warm
    engine, interleaved (``pipeline_warm_one_batch``, the README's headline, 0.977 on
    the full bench) must stay >= 0.8 (measured 1.045 at load 20; with the rewrite
    pass's chunk loop slowed to half speed, 0.503). On this shard a pass is short, so
    machine load moves single figures by 10-20%, but both arms alike: the ratio stays
    well above 0.8. A pipeline that lost a fifth of its speed (a blocking write per
    chunk, a barrier between chunks, a lost window) falls below it. The first-pass
    ratio (over a fresh bare engine) is mostly the engine's warm-up at this size
    (README: 0.93-1.29 on the full bench) and is checked present, not bounded."""
    out = tmp_path / "figures.json"
    run = _cli(tmp_path, "bench", "--config", "tiny", "--docs", "8", "--scale", "1",
               "--repeats", "1", "--set", "refresh.judge_sample=0", "--out", str(out), timeout=870)  # fmt: skip
    f = json.loads(out.read_text())
    hw = throughput.hardware()
    assert f["hardware"]["cpu_model"] == hw["cpu_model"] and f["repeats"] == 1
    assert f"machine: {hw['cpu_model']}, {hw['cpu_cores']} cores" in run.stdout
    assert set(f["ratios"]) >= {"pipeline_one_batch", "pipeline_warm_one_batch",
                                "windowed_one_batch", "chunked_one_batch", "seeded_unseeded"}  # fmt: skip
    task = f["tasks"]["1x"]
    assert task["docs"] == 8 and task["engine_starts_total"] == 1, task
    assert (
        f["tokens_per_s"]["pipeline"]["median"] > 0 < f["tokens_per_s"]["bare_one_batch"]["median"]
    )
    assert "ratio pipeline / one generate call, same warm engine, interleaved" in run.stdout
    # the throughput store under the profile's storage root got the measurement
    rows = [json.loads(p.read_text()) for p in (tmp_path / "var" / "throughput").rglob("*.json")]
    assert [r["ratio_pipeline_one_batch"] for r in rows] == [
        f["ratios"]["pipeline_one_batch"]["median"]
    ]
    warm = f["ratios"]["pipeline_warm_one_batch"]["median"]
    assert warm >= 0.8, (
        f"pipeline / one generate call, same warm engine: {warm} < 0.8\n{run.stdout}"
    )


@pytest.mark.slow
@pytest.mark.timeout(900)
def test_bench_lora_tiny_real_run_guards_one_engine_over_two(tmp_path):
    """``maga bench-lora --docs 2 --steps 1 --repeats 1 --no-judge --shapes
    two_engines,one_lora_engine``: two adapters trained one step each and merged, then
    one shard's GA and rewrite passes in each shape on real engines (three starts).

    Guard: the LoRA shape starts one engine where the two-engine shape starts two
    (engine-start ratio exactly 0.5), and its start-up seconds over the two engines'
    must stay <= 0.8 (README: 0.45 [0.44, 0.65] at load 5-10; here 0.61 at load 12-20).
    Start-up is the figure this shape exists for; one engine start costs about half of
    two whatever the load, so 0.8 is noise-proof, and a LoRA engine whose start grew to 1.6 plain starts, or a
    session that keyed engines on the adapter, fails it. Output tokens/s is not bounded:
    vLLM's CPU LoRA path spreads it 0.13-1.12 (README), a regression would drown in it."""
    out = tmp_path / "figures.json"
    run = _cli(tmp_path, "bench-lora", "--docs", "2", "--steps", "1", "--repeats", "1",
               "--no-judge", "--shapes", "two_engines,one_lora_engine", "--out", str(out),
               timeout=870)  # fmt: skip
    f = json.loads(out.read_text())
    hw = throughput.hardware()
    assert f["hardware"]["cpu_model"] == hw["cpu_model"] and f["repeats"] == 1
    assert f"machine: {hw['cpu_model']}" in run.stdout and "| one_lora_engine | 1 |" in run.stdout
    assert f["adapter_training"]["ga"]["steps"] == 1 == f["adapter_training"]["reform"]["steps"]
    starts = {s: x["engine_starts"]["median"] for s, x in f["shapes"].items()}
    assert starts == {"two_engines": 2, "one_lora_engine": 1}
    assert 0 <= f["rewrites_identical_lora_vs_merged"] <= 1
    for shape in f["shapes"].values():
        assert shape["tokens_per_s"]["median"] > 0
    ratio = f["ratios"]["one_lora_engine/two_engines"]
    assert ratio["engine_starts"]["median"] == 0.5
    startup = ratio["startup_s"]["median"]
    assert startup <= 0.8, f"LoRA engine start-up / two engines': {startup} > 0.8\n{run.stdout}"
