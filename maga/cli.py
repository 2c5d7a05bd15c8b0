"""``maga``: run the pipelines without the Airflow UI.

maga run tool-models --config configs/demo.yaml [--set key=value ...] [--run-id ID]
maga demo
maga run corpus-refresh --config tiny --set refresh.source_uri=s3://b/corpus [--dry-run]
    [--review | --approve [SHARD ...] | --reject --comment WHY] [--reviewer NAME]
maga bench [--config tiny] [--docs 8] [--scale 10] [--repeats 3]
maga bench-gpu [--dry-run] [--device gpu|cpu] [--slm ...] [--teacher ...]
maga bench-control-plane [--shards 100000] [--per-run 1024]
maga bench-dedup [--sizes 1000000,10000000] [--shard-rows 1000] [--repeats 3]
maga bench-lora [--docs 8] [--repeats 3] [--steps 30] [--no-judge] [--shapes ...]
maga bench-speculation [--docs 8] [--repeats 3] [--model builtin:smollm2-135m-instruct]
maga summary RUN_URI
maga report RUN_URI [--no-data-docs] [--no-embeddings]
maga audit OUTPUT --source SOURCE [--config demo] [--json]
"""

from __future__ import annotations

import argparse
import json
import os
import sys

from maga.config import ConfigError, load_config
from maga.corpus.reader import CorpusError
from maga.log import get_logger
from maga.pipelines.cli_runs import (
    print_summary,
    run_corpus_refresh,
    run_demo,
    run_tool_models,
)
from maga.runs.context import RunConfigMismatch

log = get_logger("cli")
PIPELINES = ("tool-models", "corpus-refresh")


def _at_least_one(text: str) -> int:
    """argparse type of a count that must be 1 or more (a benchmark's --repeats)."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"{value} is less than 1")
    return value


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["bench-gpu"]:  # its own parser: it also runs without the project's deps
        from maga.bench.gpu import main as bench_gpu

        return bench_gpu(argv[1:])
    parser = argparse.ArgumentParser(
        prog="maga", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    sub = parser.add_subparsers(dest="command", required=True)
    run = sub.add_parser("run", help="run a pipeline end to end")
    run.add_argument("pipeline", choices=PIPELINES)
    run.add_argument("--config", required=True, help="profile name or YAML path")
    run.add_argument(
        "--set",
        dest="overrides",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="override a config value (repeatable)",
    )
    run.add_argument("--run-id", help="resume or name a run (default: a new timestamped id)")
    run.add_argument(
        "--dry-run",
        action="store_true",
        help="corpus-refresh: only list the shards that would be processed",
    )
    from maga.refresh.review_cli import add_review_args, answer_from_args

    add_review_args(run)
    bench = sub.add_parser("bench", help="benchmark the corpus-refresh reformulation step")
    bench.add_argument("--config", default="tiny", help="profile name or YAML path")
    bench.add_argument("--set", dest="overrides", action="append", default=[])
    bench.add_argument("--docs", type=int, default=8, help="documents in the 1x shard")
    bench.add_argument("--scale", type=int, default=10, help="size of the large shard (x)")
    bench.add_argument("--repeats", type=_at_least_one, default=3, help="measure this many times")
    bench.add_argument("--out", help="also write the figures as JSON to this path")
    doc = sub.add_parser("doctor", help="why is this slow here? CPU, ISA, precision, tok/s")
    doc.add_argument("--no-bench", action="store_true", help="facts only, no engine start")
    doc.add_argument("--model", default="builtin:smollm2-135m-instruct")
    doc.add_argument(
        "--repeats", type=_at_least_one, default=1, help="benchmark repeats (interleaved)"
    )
    sub.add_parser("bench-gpu", help="tool-model tok/s per GPU (bf16/FP8, speculation)")
    bs = sub.add_parser("bench-speculation", help="ngram speculation on rewrite requests")
    bs.add_argument("--config", default="demo", help="profile name or YAML path")
    bs.add_argument("--set", dest="overrides", action="append", default=[])
    bs.add_argument("--model", default="builtin:smollm2-135m-instruct", help="real weights")
    bs.add_argument("--docs", type=int, default=8, help="documents (x4 genre-audience pairs)")
    bs.add_argument("--repeats", type=_at_least_one, default=3, help="measure this many times")
    bs.add_argument("--temperature", type=float, help="override the profile's sampling")
    bs.add_argument("--out", help="also write the figures as JSON to this path")
    bl = sub.add_parser("bench-lora", help="one LoRA engine for both SLMs vs two engines")
    bl.add_argument("--config", default="tiny", help="profile name or YAML path")
    bl.add_argument("--set", dest="overrides", action="append", default=[])
    bl.add_argument("--model", default="builtin:tiny-random", help="the adapters' base")
    bl.add_argument("--docs", type=int, default=8, help="documents in the shard")
    bl.add_argument("--repeats", type=_at_least_one, default=3, help="measure this many times")
    bl.add_argument("--steps", type=int, default=30, help="training steps per adapter")
    bl.add_argument("--no-judge", action="store_true", help="skip the judged share >= 3")
    bl.add_argument("--shapes", default="two_engines_int8,two_engines,one_lora_engine",
                    help="shapes to measure, comma-separated (one_lora_engine always)")  # fmt: skip
    bl.add_argument("--out", help="also write the figures as JSON to this path")
    cp = sub.add_parser("bench-control-plane", help="manifest bookkeeping at 100k shards")
    cp.add_argument("--shards", type=int, default=100_000)
    cp.add_argument("--per-run", type=int, default=1024)
    cp.add_argument("--corpus-tokens", type=float, default=195e9)
    cp.add_argument("--tokens-per-shard", type=float, default=8e6)
    cp.add_argument("--expansion", type=float, default=770 / 195, help="output per source token")
    cp.add_argument("--workers", type=int, default=64, help="GPU workers (one engine each)")
    cp.add_argument("--sizing-only", action="store_true", help="skip the simulation")
    bd = sub.add_parser("bench-dedup", help="near-dup index lookup/publish at 1M, 10M rows")
    bd.add_argument("--sizes", default="1000000,10000000", help="index rows, comma-separated")
    bd.add_argument("--shard-rows", type=int, default=1000, help="signatures per shard")
    bd.add_argument("--repeats", type=_at_least_one, default=3, help="fresh processes per figure")
    bd.add_argument("--scratch", help="folder for the synthetic indexes (default: temp)")
    bd.add_argument("--out", help="also write the figures as JSON to this path")
    eh = sub.add_parser("engine-hosts", help="engines kept between Airflow tasks: list or stop")
    eh.add_argument("--stop", action="store_true", help="end every engine host now")
    demo = sub.add_parser("demo", help="run the demo profile on the built-in corpus")
    demo.add_argument("--set", dest="overrides", action="append", default=[])
    show = sub.add_parser("summary", help="print a run summary")
    show.add_argument("path", help="path or URI of summary.json")
    show.add_argument("--json", action="store_true")
    rep = sub.add_parser("report", help="build a run's data-quality report (report.html)")
    rep.add_argument("run_uri", help="run folder: local path or s3:// URI")
    rep.add_argument(
        "--no-data-docs", action="store_true", help="skip the great-expectations Data Docs"
    )
    rep.add_argument(
        "--no-embeddings", action="store_true", help="skip the embedding sections (no model load)"
    )
    aud = sub.add_parser(
        "audit",
        help="is every source record published or rejected with a reason? (exit 6 if not)",
    )
    aud.add_argument("output", help="refresh output location: folder or s3:// prefix")
    aud.add_argument("--source", required=True, help="source shards: folder or s3:// prefix")
    aud.add_argument("--config", default="demo", help="profile whose corpus id/text fields to read")
    aud.add_argument("--set", dest="overrides", action="append", default=[])
    aud.add_argument("--json", action="store_true", help="print the whole audit as JSON")
    args = parser.parse_args(argv)
    try:
        if args.command == "run" and args.pipeline == "corpus-refresh":
            extra, answer = answer_from_args(args, parser)
            path, complete = run_corpus_refresh(
                args.config, [*args.overrides, *extra], args.run_id, args.dry_run, answer
            )
            print_summary(path)
            if not complete:
                return 5
        elif args.command == "run":
            path = run_tool_models(args.config, args.overrides, args.run_id)
            print_summary(path)
        elif args.command == "bench":
            from maga.bench.refresh import run_bench

            run_bench(args.config, args.overrides, args.docs, args.scale, args.out, args.repeats)
        elif args.command == "doctor":
            from maga.doctor import run as doctor

            return doctor(not args.no_bench, args.model, repeats=args.repeats)
        elif args.command == "bench-speculation":
            from maga.bench.speculation import run as run_bench_speculation

            run_bench_speculation(args.config, args.overrides, args.model, args.docs,
                                  args.repeats, args.temperature, args.out)  # fmt: skip
        elif args.command == "bench-lora":
            from maga.bench.lora import run_bench_lora

            run_bench_lora(args.config, args.overrides, args.docs, args.repeats, args.steps,
                           args.model, not args.no_judge, args.out,
                           tuple(args.shapes.split(",")))  # fmt: skip
        elif args.command == "bench-control-plane":
            from maga.bench.control_plane import render, render_sizing, simulate

            if not args.sizing_only:
                print(render(simulate(args.shards, args.per_run)))
            print(render_sizing(args.corpus_tokens, args.tokens_per_shard, args.expansion,
                                args.workers, args.per_run))  # fmt: skip
        elif args.command == "bench-dedup":
            from maga.bench.dedup import main as bench_dedup

            bench_dedup([int(x) for x in args.sizes.split(",")], args.shard_rows, args.repeats,
                        args.scratch, args.out)  # fmt: skip
        elif args.command == "engine-hosts":
            from maga.llm.host_find import print_hosts

            print_hosts(stop=args.stop)
        elif args.command == "demo":
            return run_demo(args.overrides)
        elif args.command == "report":
            from maga.report import build_report

            uri = build_report(
                args.run_uri,
                data_docs=not args.no_data_docs,
                with_embeddings=not args.no_embeddings,
            )
            print(uri)
        elif args.command == "audit":
            from maga.refresh.audit import audit, render_audit
            from maga.storage import Storage

            cfg = load_config(args.config, args.overrides)
            where = [u if "://" in u else os.path.abspath(u) for u in (args.output, args.source)]
            result = audit(Storage(cfg.storage), *where, cfg.corpus)
            print(json.dumps(result, indent=2) if args.json else render_audit(result))
            if result["unaccounted"]:
                return 6
        elif args.command == "summary":
            if args.json:
                from maga.storage import Storage

                print(json.dumps(Storage().read_json(args.path), indent=2))
            else:
                print_summary(args.path)
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
