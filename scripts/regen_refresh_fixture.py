"""Regenerate ``tests/report/fixtures/refresh1`` from a real corpus-refresh run.

The tiny profile, its random model behind a real vLLM engine (CPU), the fixture's own
source shards (``src/a.jsonl``, ``src/sub/b.parquet``), two documents per chunk. The run
folder and the published output are copied back with the storage root written as
``@RUN_ROOT@`` (tests/report/conftest.py puts the test's root there). Staging, the
near-duplicate index and the built report are left out: the tests rebuild the report.

Run it when ``tests/report/test_fixture_schema.py`` says the fixture fell behind::

    PYTHONPATH=. MAGA_HOME=. .venv/bin/python scripts/regen_refresh_fixture.py

then update the strings ``tests/report/test_build.py`` reads off it.
"""

from __future__ import annotations

import shutil
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
FIXTURE = ROOT / "tests" / "report" / "fixtures" / "refresh1"
RUN = Path("runs", "maga_corpus_refresh", "r1")
SKIP = {"_staging", "_index", "data_docs", "report.html"}  # rebuilt or scratch
TEXT = (".json", ".jsonl", ".md")


def _copy(src: Path, dest: Path, root: Path) -> None:
    for path in sorted(src.rglob("*")):
        rel = path.relative_to(src)
        if not path.is_file() or SKIP & set(rel.parts):
            continue
        out = dest / rel
        out.parent.mkdir(parents=True, exist_ok=True)
        if path.suffix in TEXT:
            out.write_text(path.read_text().replace(str(root), "@RUN_ROOT@"))
        else:
            shutil.copy2(path, out)


def main() -> int:
    sys.path.insert(0, str(ROOT))
    from maga.models.builtin import TINY, resolve_model
    from maga.refresh.pipeline import DAG_ID, run_all
    from maga.runs.context import RunContext
    from maga.storage import Storage
    from tests.refresh.helpers import make_registry, refresh_config

    with tempfile.TemporaryDirectory(prefix="refresh1-") as tmp:
        root = Path(tmp)
        shutil.copytree(FIXTURE / "src", root / "src")
        make_registry(Storage(), str(root), resolve_model(TINY))
        cfg = refresh_config(str(root), str(root / "src"), "out", "refresh.chunk_docs=2")
        ctx = RunContext.create(cfg, DAG_ID, "r1")
        result = run_all(ctx)  # real engine: open_session() starts the tiny model
        new = root / "fixture"
        shutil.copytree(root / "src", new / "src")
        _copy(root / "out", new / "out", root)
        _copy(root / RUN, new / RUN, root)
        shutil.rmtree(FIXTURE)
        shutil.copytree(new, FIXTURE)
    print(f"refresh1 regenerated in {FIXTURE}: {result}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
