"""The review on the terminal: ``maga run corpus-refresh --review`` asks the person at
the terminal (the request as in Airflow's review screen); ``--approve [SHARD ...]`` and
``--reject --comment WHY`` answer in advance, for scripts. Each sets
``refresh.review.mode=always``; the answer goes through :mod:`maga.refresh.review`, as
the DAG's does."""

from __future__ import annotations

import argparse
import getpass
import sys
from collections.abc import Callable
from typing import Any

from maga.refresh.review import PUBLISH_ALL, PUBLISH_SELECTED, REJECT, render_body

Answer = Callable[[dict[str, Any]], dict[str, Any]]


def add_review_args(run: argparse.ArgumentParser) -> None:
    g = run.add_argument_group("corpus-refresh review (maga.refresh.review)")
    how = g.add_mutually_exclusive_group()
    how.add_argument(
        "--review", action="store_true", help="stop before publish and ask on this terminal"
    )
    how.add_argument(
        "--approve",
        nargs="*",
        metavar="SHARD",
        help="approve in advance: every shard, or only these shard keys",
    )
    how.add_argument("--reject", action="store_true", help="reject the run (needs --comment)")
    g.add_argument("--comment", help="the review's comment (required with --reject)")
    g.add_argument("--reviewer", help="who answers (default: the login name)")  # fmt: skip


def _who(args: argparse.Namespace) -> str:
    return args.reviewer or getpass.getuser()


def answer_from_args(args: argparse.Namespace,
                     parser: argparse.ArgumentParser) -> tuple[list[str], Answer | None]:  # fmt: skip
    """(extra overrides, the answer) for the flags given; no flag: the profile's mode,
    and a review it asks for is left unanswered (publish publishes nothing)."""
    if args.reject and not (args.comment or "").strip():
        parser.error("--reject needs --comment (why the run is rejected)")
    if args.review:
        return ["refresh.review.mode=always"], lambda request: ask(request, _who(args))
    if args.approve is not None:
        keys = list(args.approve)
        return ["refresh.review.mode=always"], lambda request: {
            "action": PUBLISH_SELECTED if keys else PUBLISH_ALL, "shards": keys,
            "reviewer": _who(args), "comment": args.comment}  # fmt: skip
    if args.reject:
        return ["refresh.review.mode=always"], lambda request: {
            "action": REJECT, "reviewer": _who(args), "comment": args.comment}  # fmt: skip
    return [], None


def ask(request: dict[str, Any], reviewer: str, read: Callable[[str], str] = input) -> dict:
    """The request on the terminal, then the answer read line by line."""
    print("\n" + render_body(request).replace("**", ""), file=sys.stderr)
    choice = ""
    while choice not in ("a", "s", "r"):
        choice = read("Publish all [a], publish selected shards [s], reject run [r]? ").strip()
    shards: list[str] = []
    if choice == "s":
        listed = read(f"Shards to publish ({', '.join(request['shards'])}), comma-separated: ")
        shards = [k.strip() for k in listed.split(",") if k.strip()]
    comment = read("Comment" + (" (required): " if choice == "r" else " (optional): ")).strip()
    while choice == "r" and not comment:
        comment = read("A rejection needs a comment: ").strip()
    action = {"a": PUBLISH_ALL, "s": PUBLISH_SELECTED, "r": REJECT}[choice]
    return {"action": action, "shards": shards, "reviewer": reviewer, "comment": comment}
