"""Why a task of a run failed, kept beside the run: ``<run>/failures/<task>.json``.

Written by the Airflow task wrappers (:mod:`maga.pipelines.airflow_glue`) on every
failed try, read into ``summary.json`` (``failures``) and shown first in the run's
data-quality report, so a failed run's report says which task failed and why next to
everything that did finish. A later successful try of the same task removes its record.
"""

from __future__ import annotations

import datetime as dt
import re
from typing import Any

from maga.storage import Storage, join_uri

FOLDER = "failures"


def _name(task_id: str, map_index: int | None) -> str:
    base = re.sub(r"[^A-Za-z0-9._-]+", "_", task_id)
    return (
        f"{base}__{map_index}.json" if map_index is not None and map_index >= 0 else f"{base}.json"
    )


def record_failure(storage: Storage, run_uri: str, *, task_id: str, reason: str,
                   error: str, final: bool, try_number: int | None = None,
                   map_index: int | None = None) -> str:  # fmt: skip
    """Write (or overwrite) the task's failure record; returns its URI."""
    uri = join_uri(run_uri, FOLDER, _name(task_id, map_index))
    storage.write_json(uri, {
        "task_id": task_id, "map_index": map_index if map_index is not None and map_index >= 0
        else None, "reason": reason, "error": error, "final": final, "try_number": try_number,
        "at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
    })  # fmt: skip
    return uri


def clear_failure(storage: Storage, run_uri: str, task_id: str,
                  map_index: int | None = None) -> bool:  # fmt: skip
    """Remove the task's failure record; True when there was one."""
    uri = join_uri(run_uri, FOLDER, _name(task_id, map_index))
    if not storage.exists(uri):
        return False
    storage.delete(uri)
    return True


def read_failures(storage: Storage, run_uri: str) -> list[dict[str, Any]]:
    """Every failure record of the run, oldest first ([] when there is none)."""
    try:
        found = storage.list(join_uri(run_uri, FOLDER), suffixes=(".json",))
    except Exception:
        return []
    out = []
    for info in found:
        try:
            out.append(storage.read_json(info.uri))
        except Exception:
            continue
    return sorted(out, key=lambda r: (str(r.get("at", "")), str(r.get("task_id", ""))))
