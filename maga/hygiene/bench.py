"""Cost and known-answer counts of the hygiene steps on a crafted corpus of real text:
``python -m maga.hygiene.bench [--n 10000]``.

The corpus: ``n`` rewrites drawn from the built-in Wikipedia summaries (English, French,
Spanish, each "rewrite" paired with itself as source), among which 5% are near copies of
earlier ones (one word changed, case and punctuation changed), 3% are labelled with
another language than they are written in, 2% quote 13+ words of a benchmark item, and
3% carry an e-mail address and a phone number. Each step runs over all ``n`` rows in the
refresh's order; the seconds it took are scaled to 10k rewrites. With ``--profile`` the rows
are that profile's built-in corpus as it is, and the "benchmark" is its first document.
"""

from __future__ import annotations

import argparse
import json
import random
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any


def crafted(n: int, seed: int = 7) -> tuple[list[dict[str, Any]], list[str], Counter]:
    from maga.corpus.builtin import wiki_records

    rng = random.Random(seed)
    pool = [r for r in wiki_records(["en", "fr", "es"]) if len(r["text"]) >= 300]
    rng.shuffle(pool)
    bench_src, pool = pool[:400], pool[400:]
    bench = [" ".join(r["text"].split()[:40]) for r in bench_src]
    rows, truth = [], Counter()
    other = {"en": "fr", "fr": "es", "es": "en"}
    for i in range(n):
        roll = rng.random()
        if roll < 0.05 and rows:
            base = rows[rng.randrange(len(rows))]
            words = base["text"].split()
            words[len(words) // 2] = "notably"
            text, lang, kind = " ".join(words).upper().replace(",", ";"), base["lang"], "near"
        else:
            rec = pool[i % len(pool)]
            text, lang, kind = rec["text"], rec["lang"], "plain"
            if roll < 0.08:
                lang, kind = other[lang], "mislabel"
            elif roll < 0.10:
                text, kind = f"{text} {bench[rng.randrange(len(bench))]}", "bench"
            elif roll < 0.13:
                text, kind = (
                    f"{text} Mail a.b{i}@example.com or call +1 415 555 {i % 10000:04d}.",
                    "pii",
                )
        truth[kind] += 1
        rows.append({"id": f"r{i}", "text": text, "lang": lang, "kind": kind})
    return rows, bench, truth


def profile_corpus(profile: str) -> tuple[list[dict[str, Any]], list[str], Counter]:
    """The built-in corpus a profile reads (its languages and limit), as they are."""
    from maga.config import load_config
    from maga.corpus.builtin import wiki_records

    c = load_config(profile).corpus
    rows = [{"id": r["id"], "text": r["text"], "lang": r["lang"], "kind": "as-is"}
            for r in wiki_records(c.languages, c.limit)]  # fmt: skip
    return rows, [], Counter({"as-is": len(rows)})


def run(n: int, profile: str | None = None) -> dict[str, Any]:
    from maga.config import BenchmarkSource, DecontamConfig, HygieneConfig
    from maga.hygiene.decontam import Decontaminator
    from maga.hygiene.language import LanguageId
    from maga.hygiene.neardup import NearDupIndex, signature
    from maga.hygiene.pii import redact
    from maga.storage import Storage

    rows, bench, truth = profile_corpus(profile) if profile else crafted(n)
    n = len(rows)
    h = HygieneConfig()
    out: dict[str, Any] = {"rows": n, "truth": dict(truth), "found": {}, "per_10k_s": {}}
    ident = LanguageId(h.language)
    t0 = time.perf_counter()
    mism = [r["kind"] for r in rows if ident.mismatch(r["lang"], r["text"])[1]]
    out["per_10k_s"]["language"] = (time.perf_counter() - t0) / n * 10_000
    out["found"]["language_mismatch"] = dict(Counter(mism))
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "bench.jsonl"
        bench = bench or [" ".join(r["text"].split()[:40]) for r in rows[:1]]
        path.write_text("".join(json.dumps({"question": b}) + "\n" for b in bench))
        cfg = DecontamConfig(benchmarks=[BenchmarkSource(name="bench", uri=str(path))])
        t0 = time.perf_counter()
        dec = Decontaminator(cfg, Storage())
        out["decontam_load_s"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    hits = [r["kind"] for r in rows if dec.check(r["text"])]
    out["per_10k_s"]["decontam"] = (time.perf_counter() - t0) / n * 10_000
    out["found"]["contaminated"] = dict(Counter(hits))
    t0 = time.perf_counter()
    pii = Counter()
    changed = []
    for r in rows:
        _, counts = redact(r["text"])
        pii.update(counts)
        if counts:
            changed.append(r["kind"])
    out["per_10k_s"]["pii"] = (time.perf_counter() - t0) / n * 10_000
    out["found"]["pii_redacted"] = dict(Counter(changed))
    out["pii_by_kind"] = dict(pii)
    idx = NearDupIndex(h.near_dup)
    t0 = time.perf_counter()
    dups = []
    for r in rows:
        sig = signature(r["text"], h.near_dup)
        if idx.query(sig):
            dups.append(r["kind"])
        else:
            idx.add(r["id"], sig, "bench")
    out["per_10k_s"]["near_dup"] = (time.perf_counter() - t0) / n * 10_000
    out["found"]["near_duplicate_corpus"] = dict(Counter(dups))
    out["per_10k_s"] = {k: round(v, 2) for k, v in out["per_10k_s"].items()}
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--n", type=int, default=10_000)
    ap.add_argument("--profile", help="instead: the built-in corpus of this profile, as is")
    args = ap.parse_args()
    print(json.dumps(run(args.n, args.profile), indent=2))


if __name__ == "__main__":
    main()
