"""Publish a model folder atomically: build it in a temp sibling, then rename it into
place, replacing an older folder only once the new one is complete."""

from __future__ import annotations

import contextlib
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path


@contextlib.contextmanager
def publish_dir(out_dir: str | Path) -> Iterator[Path]:
    """Yield an empty temp sibling of ``out_dir``; on success rename it to ``out_dir``.

    An existing ``out_dir`` (say, a stale result) is replaced only once the new folder is
    complete. On error the temp folder is removed and ``out_dir`` is left untouched.
    """
    out = Path(out_dir)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.tmp-", dir=out.parent))
    tmp.chmod(0o755)  # mkdtemp makes it private; publish it readable like a normal folder
    try:
        yield tmp
        old = None
        if out.exists():
            old = Path(tempfile.mkdtemp(prefix=f".{out.name}.old-", dir=out.parent))
            out.rename(old / out.name)
        try:
            tmp.rename(out)
        except OSError:
            if old is not None:  # put the previous folder back
                (old / out.name).rename(out)
            raise
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
