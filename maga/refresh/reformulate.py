"""Step 3: generate one shard's rewrites (or rationales) with the tool models, chunk by chunk.

Two passes over the shard's input chunks (``refresh.chunk_docs`` documents each). In the
``documents`` and ``stitch`` output modes the GA-SLM first writes
``refresh.generations_per_source`` distinct (genre, audience) pairs per document (in
rounds of ``generation.pairs_per_doc``, see :mod:`maga.refresh.pairs`), then the
reformulation SLM writes one rewrite per pair. In ``stretch`` mode the first pass finds
each document's passages (no model) and the second asks the reformulation SLM for one
rationale per passage. Each chunk's result is written to staging as soon as it
completes, so memory holds one chunk and a retried task resumes at the first missing
chunk. One engine process serves each pass of the whole shard; both passes share one
when both SLMs are LoRA adapters of one base (``distill.adapter: lora``, see
``maga bench-lora`` for when that pays). Per-request seeds derived from document ids make a regenerated chunk
byte-identical.

Documents longer than ``generation.max_input_chars`` follow ``refresh.long_doc_policy``:
``truncate`` (cut at a word boundary) or ``split`` (parts of at most that many
characters, at paragraph/sentence/word boundaries, at most ``refresh.max_parts`` kept);
both are counted. ``stretch`` keeps every document whole and prompts a window around
each passage instead. Progress (docs, tokens/s, ETA) is logged after every chunk and at
least every ``refresh.progress_every_s`` seconds while one runs.
"""

from __future__ import annotations

import os
import signal
import threading
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from maga.config import MagaConfig
from maga.jsonl import iter_jsonl
from maga.llm.base import GenRequest, UsageCounter
from maga.llm.jobs import EngineSession, ModelSpec, open_session, prepare_engines
from maga.llm.models import student_spec
from maga.log import get_logger
from maga.megadocs.passages import insert_points
from maga.operations import RATIONALE, REWRITE, reject_kind, truncate
from maga.operations.ga import ga_reject
from maga.refresh.discover import read_plan
from maga.refresh.layout import ShardPaths, shard_paths
from maga.refresh.pairs import collect_pairs, stream_pairs
from maga.refresh.toolmodels import local_model_dir
from maga.runs.context import RunContext
from maga.runs.stage import ShardStep, ShardWork, run_shard_step

log = get_logger("refresh.reformulate")
CRASH_ENV = "MAGA_TEST_CRASH_AFTER_CHUNKS"  # test hook: SIGKILL self after N new chunks


def split_text(text: str, max_chars: int) -> list[str]:
    """Parts of at most ``max_chars``, cut at a paragraph, sentence or word boundary
    in the second half of the window when there is one."""
    parts, rest = [], text.strip()
    while len(rest) > max_chars:
        window = rest[:max_chars]
        cut = -1
        for sep in ("\n\n", "\n", ". ", " "):
            pos = window.rfind(sep)
            if pos > max_chars // 2:
                cut = pos + len(sep)
                break
        cut = cut if cut > 0 else max_chars
        parts.append(rest[:cut].strip())
        rest = rest[cut:].strip()
    if rest:
        parts.append(rest)
    return parts


def doc_units(doc: dict[str, Any], cfg: MagaConfig) -> tuple[list[dict[str, Any]], Counter]:
    """The generation units of one document and the long-document counters."""
    text, limit = doc["text"], cfg.generation.max_input_chars
    counts: Counter = Counter()
    base = {"source_id": doc["id"], "source_chars": len(text)}
    if len(text) <= limit or cfg.refresh.output_mode == "stretch":
        return [{**base, "unit_id": doc["id"], "part": 0, "text": text}], counts
    if cfg.refresh.long_doc_policy == "truncate":
        cut, _ = truncate(text, limit)
        counts["truncated_docs"] += 1
        counts["truncated_chars"] += len(text) - len(cut)
        return [{**base, "unit_id": doc["id"], "part": 0, "text": cut}], counts
    parts = split_text(text, limit)
    keep = parts[: cfg.refresh.max_parts]
    counts["split_docs"] += 1
    counts["parts"] += len(keep)
    counts["parts_dropped"] += len(parts) - len(keep)
    counts["truncated_chars"] += sum(len(p) for p in parts[len(keep) :])
    units = [{**base, "unit_id": f"{doc['id']}~p{k}", "part": k, "text": p}
             for k, p in enumerate(keep)]  # fmt: skip
    return units, counts


def iter_units(storage: Any, paths: ShardPaths, k: int, cfg: MagaConfig) -> Iterator[dict]:
    for doc in iter_jsonl(storage, paths.chunk("input", k)):
        yield from doc_units(doc, cfg)[0]


class Progress:
    """Docs done, completion tokens/s and ETA over both passes, in the task log."""

    def __init__(self, label: str, docs: int, chunks: int, every_s: float) -> None:
        self.label, self.docs, self.every_s = label, docs, every_s
        self.total, self.done, self.active_done = 2 * chunks, 0, 0
        self.tokens, self.active_s = 0, 0.0
        self.docs_done = Counter()

    def chunk(self, phase: str, k: int, docs: int, tokens: int, seconds: float) -> None:
        self.done += 1
        self.docs_done[phase] += docs
        if seconds > 0:
            self.active_done, self.tokens, self.active_s = (
                self.active_done + 1,
                self.tokens + tokens,
                self.active_s + seconds,
            )
        rate = self.tokens / self.active_s if self.active_s else 0.0
        per_chunk = self.active_s / self.active_done if self.active_done else 0.0
        eta = per_chunk * (self.total - self.done)
        log.info(
            "%s: %s chunk %d done: %d/%d docs through %s, %.1f completion tok/s, ETA %.0fs",
            self.label,
            phase,
            k,
            self.docs_done[phase],
            self.docs,
            phase,
            rate,
            eta,
        )

    @contextmanager
    def running(self, phase: str, k: int) -> Iterator[None]:
        stop, began = threading.Event(), time.monotonic()

        def beat() -> None:
            while not stop.wait(self.every_s):
                log.info(
                    "%s: %s chunk %d still generating (%.0fs); %d/%d docs through %s",
                    self.label,
                    phase,
                    k,
                    time.monotonic() - began,
                    self.docs_done[phase],
                    self.docs,
                    phase,
                )

        thread = threading.Thread(target=beat, daemon=True)
        thread.start()
        try:
            yield
        finally:
            stop.set()
            thread.join()


def _maybe_crash(new_chunks: int) -> None:
    limit = os.environ.get(CRASH_ENV)
    if limit and new_chunks >= int(limit):
        log.warning("%s=%s: killing this process after %d chunks", CRASH_ENV, limit, new_chunks)
        os.kill(os.getpid(), signal.SIGKILL)


def _ga_chunk(cfg: MagaConfig, session: EngineSession, spec: ModelSpec,
              units: list[dict]) -> tuple[list[dict], dict]:  # fmt: skip
    if cfg.refresh.output_mode != "stretch":
        return collect_pairs(cfg, session, spec, units)
    s = cfg.refresh.stretch
    rows = []
    for u in units:
        passages = insert_points(u["text"], s.unit, s.max_inserts)
        rows.append({"unit_id": u["unit_id"], "source_id": u["source_id"], "part": u["part"],
                     "pairs": [], "passages": passages,
                     "reject_reason": None if passages else "no_passages", "raw": "",
                     "prompt_tokens": 0, "completion_tokens": 0})  # fmt: skip
    return rows, UsageCounter().as_dict()  # no model call: passages are found by rule


def rewrite_requests(cfg: MagaConfig, units: list[dict],
                     ga_rows: list[dict]) -> tuple[list[dict], list[GenRequest]]:  # fmt: skip
    """One request per (unit, pair) of a chunk, or per (document, passage) in
    ``stretch`` mode, and the rows they become."""
    by_unit = {u["unit_id"]: u for u in units}
    items, requests = [], []
    for ga in ga_rows:
        unit = by_unit[ga["unit_id"]]
        for k, (start, end) in enumerate(ga.get("passages") or []):
            rid = f"{ga['unit_id']}@{k}"
            items.append({"id": rid, "source_id": ga["source_id"], "unit_id": ga["unit_id"],
                          "part": ga["part"], "pair_index": k, "genre": None, "audience": None,
                          "passage_start": start, "anchor": end})  # fmt: skip
            requests.append(RATIONALE.request(cfg, rid, unit["text"], start, end))
        for k, pair in enumerate(ga["pairs"]):
            rid = f"{ga['unit_id']}#{k}"
            items.append({"id": rid, "source_id": ga["source_id"], "unit_id": ga["unit_id"],
                          "part": ga["part"], "pair_index": k, **pair})  # fmt: skip
            requests.append(REWRITE.request(cfg, rid, unit["text"], pair["genre"],
                                            pair["audience"]))  # fmt: skip
    return items, requests


def _chunk_units(storage: Any, paths: ShardPaths, cfg: MagaConfig,
                 k: int) -> tuple[list[dict], Counter]:  # fmt: skip
    """Chunk ``k``'s generation units and its long-document counters."""
    units, long_docs = [], Counter()
    for doc in iter_jsonl(storage, paths.chunk("input", k)):
        got, counts = doc_units(doc, cfg)
        units += got
        long_docs.update(counts)
    return units, long_docs


def _n_docs(storage: Any, paths: ShardPaths, k: int) -> int:
    return sum(1 for _ in iter_jsonl(storage, paths.chunk("input", k)))


def _rw_requests(storage: Any, paths: ShardPaths, cfg: MagaConfig,
                 k: int) -> tuple[list[dict], list[GenRequest]]:  # fmt: skip
    """Chunk ``k``'s rewrite (or rationale) rows-to-be and requests, from its staged GA rows."""
    units = list(iter_units(storage, paths, k, cfg))
    return rewrite_requests(cfg, units, storage.read_json(paths.chunk("ga", k))["rows"])


def _rw_rows(items: list[dict], outcome: Any) -> list[dict]:
    return [{**it, "text": res.text.strip(), "error": res.error,
             "finish_reason": res.finish_reason, "prompt_tokens": res.prompt_tokens,
             "completion_tokens": res.completion_tokens}
            for it, res in zip(items, outcome.results, strict=True)]  # fmt: skip


def model_specs(ctx: RunContext) -> dict[str, ModelSpec]:
    """The GA-SLM and reformulation-SLM specs of this run's tool-model version."""
    tm = read_plan(ctx)["tool_models"]
    adapters = tm.get("adapters") or {}  # LoRA adapters of one base: one engine for both
    specs = {}
    for role, label in (("ga_slm", "ga_slm"), ("reformulation_slm", "reform_slm")):
        path = local_model_dir(ctx.storage, tm["models"][role], tm["version"])
        lora = adapters.get(role)
        if lora is not None:
            lora = local_model_dir(ctx.storage, lora, tm["version"])
        specs[role] = student_spec(ctx.config, path, label, lora)
    return specs


def summarize(storage: Any, paths: ShardPaths, n_chunks: int) -> dict[str, Any]:
    """Stage stats from the chunk files (one chunk in memory at a time)."""
    usage: dict[str, Counter] = {"ga_slm": Counter(), "reform_slm": Counter()}
    counts: Counter = Counter()
    ga_rejects: Counter = Counter()
    ga_events: Counter = Counter()  # per-round rule breaks and repeated pairs
    for k in range(n_chunks):
        for phase, model in (("ga", "ga_slm"), ("gen", "reform_slm")):
            data = storage.read_json(paths.chunk(phase, k))
            for name, value in data["usage"].items():
                if name != "completion_tokens_per_s":
                    usage[model][name] += value
            usage[model]["wall_seconds"] += data["wall_seconds"]
            for row in data["rows"]:
                if phase == "ga":
                    counts["units"] += 1
                    if reject := ga_reject(row):
                        ga_rejects[reject_kind(reject)] += 1
                    counts["pairs"] += len(row["pairs"])
                    counts["passages"] += len(row.get("passages") or [])
                    counts["ga_rounds"] += row.get("rounds", 0)
                    counts["ga_short_units"] += bool(row.get("short"))
                    ga_events.update(row.get("events", {}))
                else:
                    counts["rewrites"] += 1
                    counts["generation_errors"] += bool(row["error"])
                    counts["empty_outputs"] += not row["error"] and not row["text"]
                    counts["hit_max_tokens"] += row["finish_reason"] == "length"
            if phase == "ga":
                counts.update(data.get("long_docs", {}))
    models = {}
    for name, c in usage.items():
        wall = c["wall_seconds"]
        models[name] = {**{k: round(v, 3) if isinstance(v, float) else v for k, v in c.items()},
                        "completion_tokens_per_s": round(c["completion_tokens"] / wall, 2)
                        if wall else 0.0}  # fmt: skip
    return {"chunks": n_chunks, **dict(counts), "ga_rejects": dict(sorted(ga_rejects.items())),
            "ga_round_events": dict(sorted(ga_events.items())), "models": models}  # fmt: skip


def reformulate_shard(
    ctx: RunContext, shard: dict[str, Any], session: EngineSession | None = None
) -> dict[str, Any]:
    return run_shard_step(ctx, shard, REFORMULATE, shard_paths(ctx.config, shard), session)


def _reformulate(w: ShardWork) -> dict[str, Any]:
    ctx, shard, session, paths, gate = w.ctx, w.shard, w.session, w.paths, w.inputs["gate"]
    cfg, storage = ctx.config, ctx.storage
    n_chunks, label = gate["chunks"], f"reformulate {shard['key']}"
    specs = model_specs(ctx)
    own = session is None
    session = session or open_session(cfg.runner.deterministic)
    # counted from before the side-by-side start, so the engines it starts are this step's
    began, starts_before = time.perf_counter(), session.engine_starts
    startup_before, new_chunks = session.startup_seconds, 0
    spawn_before = getattr(session, "spawn_seconds", 0.0)
    prepare_engines(list(specs.values()))  # both SLMs side by side, when the runner keeps engines
    progress = Progress(label, gate["accepted"], n_chunks, cfg.refresh.progress_every_s)
    try:
        ga_todo = [k for k in range(n_chunks) if not storage.exists(paths.chunk("ga", k))]
        for k in range(n_chunks):
            if k not in ga_todo:
                progress.chunk("ga", k, _n_docs(storage, paths, k), 0, 0.0)
        if cfg.refresh.output_mode == "stretch":  # passages by rule, no model: chunk by chunk
            done_ga = ((k, *_ga_chunk(cfg, session, specs["ga_slm"],
                                      _chunk_units(storage, paths, cfg, k)[0]))
                       for k in ga_todo)  # fmt: skip
        else:  # every missing chunk through the engine at once, round by round
            done_ga = stream_pairs(cfg, session, specs["ga_slm"], ga_todo,
                                   lambda k: _chunk_units(storage, paths, cfg, k)[0])  # fmt: skip
        last = time.perf_counter()
        with progress.running("ga", ga_todo[0] if ga_todo else 0):
            for k, rows, usage in done_ga:
                now = time.perf_counter()
                wall, last = now - last, now  # the pass's wall time, shared out by chunk
                long_docs = _chunk_units(storage, paths, cfg, k)[1]
                storage.write_json(paths.chunk("ga", k),
                           {"chunk": k, "rows": rows, "usage": usage,
                            "long_docs": dict(long_docs), "wall_seconds": round(wall, 3)})  # fmt: skip
                new_chunks += 1
                progress.chunk(
                    "ga", k, _n_docs(storage, paths, k), usage["completion_tokens"], wall
                )
                _maybe_crash(new_chunks)
        todo = [k for k in range(n_chunks) if not storage.exists(paths.chunk("gen", k))]
        for k in range(n_chunks):
            if k not in todo:
                progress.chunk("gen", k, _n_docs(storage, paths, k), 0, 0.0)
        # The rewrite pass streams every missing chunk through the engine at once; each
        # chunk's file is written as soon as its last rewrite is done.
        last = time.perf_counter()
        with progress.running("gen", todo[0] if todo else 0):
            outcomes = session.stream(
                specs["reformulation_slm"],
                ((k, _rw_requests(storage, paths, cfg, k)[1]) for k in todo),
            )
            for k, outcome in outcomes:
                items, _ = _rw_requests(storage, paths, cfg, k)
                rows = _rw_rows(items, outcome)
                usage = outcome.usage.as_dict()
                now = time.perf_counter()
                wall, last = now - last, now  # the pass's wall time, shared out by chunk
                storage.write_json(paths.chunk("gen", k),
                           {"chunk": k, "rows": rows, "usage": usage, "long_docs": {},
                            "wall_seconds": round(wall, 3)})  # fmt: skip
                new_chunks += 1
                progress.chunk(
                    "gen", k, _n_docs(storage, paths, k), usage["completion_tokens"], wall
                )
                _maybe_crash(new_chunks)
    finally:
        if own:
            session.close()
    stats = summarize(storage, paths, n_chunks)
    stats.update(
        {
            "docs": gate["accepted"],
            "chunks_generated_now": new_chunks,
            "seconds": round(time.perf_counter() - began, 3),
            "engine_starts": session.engine_starts - starts_before,
            "engine_startup_seconds": round(session.startup_seconds - startup_before, 2),
            "engine_spawn_seconds": round(getattr(session, "spawn_seconds", 0.0) - spawn_before, 2),
        }
    )
    return stats


REFORMULATE = ShardStep("reformulate", needs=("gate",), work=_reformulate)
