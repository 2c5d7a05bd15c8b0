"""The CLI's runners: a whole pipeline run in one process, engines kept across its
stages (``runner.keep_engines``), and ``maga demo`` (both pipelines in one engine pool).
``maga/cli.py`` parses arguments and maps errors to exit codes; the work is here."""

from __future__ import annotations

import datetime as dt
import sys
import time
from pathlib import Path

from maga.config import load_config
from maga.llm.jobs import keep_engines


def _new_run_id() -> str:
    return "cli__" + dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%S")


def run_tool_models(config: str, overrides: list[str], run_id: str | None) -> str:
    from maga.pipelines.tool_models import run_all, start_run

    run_id = run_id or _new_run_id()
    ctx = start_run(config, overrides, run_id)
    try:
        with keep_engines(ctx.config.runner.keep_engines, ctx.config.runner.deterministic):
            run_all(ctx)
    except Exception:
        print(
            f"maga: run {ctx.run_uri} stopped; finished steps are kept. After fixing the "
            f"cause, resume with: maga run tool-models --config {config} --run-id {run_id}",
            file=sys.stderr,
        )
        raise
    return ctx.uri("summary.json")


def run_corpus_refresh(config: str, overrides: list[str], run_id: str | None,
                       dry_run: bool = False, answer: object = None) -> tuple[str, bool]:  # fmt: skip
    """Run (or resume) a corpus refresh; (summary path, every shard published).
    ``answer``: request -> the review's answer (see maga.refresh.review_cli)."""
    from maga.refresh.pipeline import RefreshIncomplete, run_all, start_run
    from maga.refresh.review import ReviewPending

    run_id = run_id or _new_run_id()
    ctx = start_run(config, [*overrides, *(["refresh.dry_run=true"] if dry_run else [])], run_id)
    complete = True
    try:
        with keep_engines(ctx.config.runner.keep_engines, ctx.config.runner.deterministic):
            run_all(ctx, answer=answer)  # type: ignore[arg-type]
    except RefreshIncomplete as exc:
        print(f"maga: {exc}", file=sys.stderr)
        complete = False
    except ReviewPending as exc:
        print(f"maga: {exc}. Answer: the same command with --run-id {run_id} and --review, "
              "--approve or --reject", file=sys.stderr)  # fmt: skip
        complete = False
    print(f"report: {ctx.uri('report.md')}")
    return ctx.uri("summary.json"), complete


def print_summary(path: str) -> None:
    from maga.storage import Storage

    summary = Storage().read_json(path)
    print(f"\nRun summary: {path}")
    if summary.get("demo_models"):
        print("  (demo-model output: the models are small or random; see summary 'note')")
    for name, st in summary["stages"].items():
        print(
            f"  {name:28s} in={st.get('docs_in', '-')!s:<5} out={st.get('docs_out', '-')!s:<5} "
            f"{float(st.get('seconds', 0)):>8.1f}s  dropped={st.get('dropped', {})}"
        )
    for name, g in summary["gates"].items():
        print(f"  gate {name:23s} {'PASSED' if g['passed'] else 'FAILED'}  {g.get('reason', '')}")
        if g.get("report"):
            print(f"       report: {g['report']}")
    report = path[: -len("summary.json")] + "report.html"
    if Storage().exists(report):
        print(f"Data-quality report: {report}")


def run_demo(overrides: list[str]) -> int:
    """``maga demo``: tool models on the demo profile, then a refresh of the demo corpus
    with the models it registered, in one engine pool; 5 when a shard was not published."""
    from maga.demo import write_demo_shards
    from maga.pipelines.tool_models import build_run_report
    from maga.runs.context import resolve_root

    began = time.perf_counter()
    runner = load_config("demo", overrides).runner
    # one teacher engine for both pipelines
    with keep_engines(runner.keep_engines, runner.deterministic) as pool:
        path = run_tool_models("demo", overrides, None)
        print_summary(path)
        tool_s = time.perf_counter() - began
        source = Path(resolve_root("var")) / "demo-corpus"
        write_demo_shards(source)
        print(f"\nCorpus refresh of {source} with the tool models just registered:")
        refresh, complete = run_corpus_refresh(
            "demo", [*overrides, f"refresh.source_uri={source}"], None
        )
        build_run_report(refresh[: -len("/summary.json")])
        print_summary(refresh)
        starts, spawn, reused = pool.engine_starts, pool.spawn_seconds, pool.reused
        total_s = time.perf_counter() - began
    stop_s = time.perf_counter() - began - total_s
    print(f"\nDemo pipelines took {total_s:.0f} s: maga_tool_models {tool_s:.0f} s, "
          f"maga_corpus_refresh {total_s - tool_s:.0f} s (stage times above), then "
          f"{stop_s:.0f} s to stop the engines; "
          f"{starts} engine starts ({spawn:.0f} s summed over engines; side-by-side "
          f"starts overlap), {reused} calls reused a running engine "
          f"(runner.keep_engines={runner.keep_engines})")  # fmt: skip
    print(
        "\nDemo models are a 135M teacher and students distilled from it: "
        "their text is demo-model output, weak by design."
    )
    return 0 if complete else 5
