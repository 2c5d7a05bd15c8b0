"""``maga``: run the pipelines without the Airflow UI.

    maga run tool-models --config configs/demo.yaml [--set key=value ...] [--run-id ID]
    maga demo
    maga summary RUN_URI
    maga report RUN_URI [--no-data-docs] [--no-embeddings]
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import sys

from maga.config import ConfigError
from maga.corpus.reader import CorpusError
from maga.runs.context import RunConfigMismatch
from maga.log import get_logger

log = get_logger("cli")
PIPELINES = ("tool-models",)


def _new_run_id() -> str:
    return "cli__" + dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%S")


def run_tool_models(config: str, overrides: list[str], run_id: str | None) -> str:
    from maga.pipelines.tool_models import run_all, start_run

    run_id = run_id or _new_run_id()
    ctx = start_run(config, overrides, run_id)
    try:
        run_all(ctx)
    except Exception:
        print(f"maga: run {ctx.run_uri} stopped; finished steps are kept. After fixing the "
              f"cause, resume with: maga run tool-models --config {config} --run-id {run_id}",
              file=sys.stderr)
        raise
    return ctx.uri("summary.json")


def _print_summary(path: str) -> None:
    from maga.storage import Storage

    summary = Storage().read_json(path)
    print(f"\nRun summary: {path}")
    if summary.get("demo_models"):
        print("  (demo-model output: the models are small or random; see summary 'note')")
    for name, st in summary["stages"].items():
        print(f"  {name:28s} in={st['docs_in']:<5} out={st['docs_out']:<5} "
              f"{st['seconds']:>8.1f}s  dropped={st['dropped']}")
    for name, g in summary["gates"].items():
        print(f"  gate {name:23s} {'PASSED' if g['passed'] else 'FAILED'}  {g['reason']}")
        print(f"       report: {g['report']}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="maga", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    run = sub.add_parser("run", help="run a pipeline end to end")
    run.add_argument("pipeline", choices=PIPELINES)
    run.add_argument("--config", required=True, help="profile name or YAML path")
    run.add_argument("--set", dest="overrides", action="append", default=[],
                     metavar="KEY=VALUE", help="override a config value (repeatable)")
    run.add_argument("--run-id", help="resume or name a run (default: a new timestamped id)")
    demo = sub.add_parser("demo", help="run the demo profile on the built-in corpus")
    demo.add_argument("--set", dest="overrides", action="append", default=[])
    show = sub.add_parser("summary", help="print a run summary")
    show.add_argument("path", help="path or URI of summary.json")
    show.add_argument("--json", action="store_true")
    rep = sub.add_parser("report", help="build a run's data-quality report (report.html)")
    rep.add_argument("run_uri", help="run folder: local path or s3:// URI")
    rep.add_argument("--no-data-docs", action="store_true",
                     help="skip the great-expectations Data Docs")
    rep.add_argument("--no-embeddings", action="store_true",
                     help="skip the embedding sections (no model load)")
    args = parser.parse_args(argv)
    try:
        if args.command == "run":
            path = run_tool_models(args.config, args.overrides, args.run_id)
            _print_summary(path)
        elif args.command == "demo":
            path = run_tool_models("demo", args.overrides, None)
            _print_summary(path)
            print("\nDemo models are a 135M teacher and students distilled from it: "
                  "their text is demo-model output, weak by design.")
        elif args.command == "report":
            from maga.report import build_report

            uri = build_report(args.run_uri, data_docs=not args.no_data_docs,
                               with_embeddings=not args.no_embeddings)
            print(uri)
        elif args.command == "summary":
            if args.json:
                from maga.storage import Storage

                print(json.dumps(Storage().read_json(args.path), indent=2))
            else:
                _print_summary(args.path)
    except ConfigError as exc:
        print(f"maga: {exc}", file=sys.stderr)
        return 2
    except (CorpusError, RunConfigMismatch, FileNotFoundError) as exc:
        print(f"maga: {exc}", file=sys.stderr)
        return 4
    except Exception as exc:  # one readable line; the traceback is in the log above
        from maga.gates.core import GateFailed

        if isinstance(exc, GateFailed):
            print(f"maga: gate failed: {exc}", file=sys.stderr)
            return 3
        raise
    return 0


if __name__ == "__main__":
    sys.exit(main())
