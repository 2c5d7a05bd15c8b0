"""The LocalExecutor of ``make airflow``: task processes start with the heavy libraries
already imported (issue 22).

Airflow's LocalExecutor forks its workers from the scheduler, and each worker forks a
new process per task. Every task therefore paid its own first import of
great-expectations (3.6 s on the README's machine) or of a transformers tokenizer and
model class (4.3 s with torch), where ``maga demo`` pays each once. This executor
imports them in the scheduler before it forks its workers, and every task process
inherits them.

Only third-party libraries stay imported, never ``maga``: the project's modules this
file needs are dropped from ``sys.modules`` before the fork, so a change to the code
reaches the next task without a scheduler restart. A library that fails to import is
logged and left to the task that needs it, which then fails with its own error.
``MAGA_AIRFLOW_PRELOAD`` replaces the list: comma-separated ``module`` or
``module:attribute``; empty imports nothing.
"""

from __future__ import annotations

import importlib
import multiprocessing
import os
import sys
import time

from airflow.executors.local_executor import LocalExecutor

from maga.log import get_logger, quiet_libraries

ENV = "MAGA_AIRFLOW_PRELOAD"
# What the demo's task bodies import first, each costing seconds on 2 cores.
PRELOAD = (
    "great_expectations",  # every gate task, validate_shard
    "pandas",
    "pyarrow.parquet",
    "transformers:AutoTokenizer",  # clean_shard's token counts (imports torch)
    "transformers:AutoModelForCausalLM",  # trainings, quantization, the report's embeddings
)
log = get_logger("deploy.executor")


def preload_names() -> tuple[str, ...]:
    raw = os.environ.get(ENV)
    if raw is None:
        return PRELOAD
    return tuple(name.strip() for name in raw.split(",") if name.strip())


def preload(names: tuple[str, ...]) -> dict[str, float]:
    """Import each ``module[:attribute]``: the seconds each took. A failure is logged,
    not raised: the scheduler must start whatever a task library does."""
    quiet_libraries()
    took: dict[str, float] = {}
    for name in names:
        module, _, attr = name.partition(":")
        began = time.perf_counter()
        try:
            found = importlib.import_module(module)
            if attr:
                getattr(found, attr)
        except Exception as err:  # noqa: BLE001 - the task that needs it reports it
            log.warning("pre-import of %s failed (%s: %s): tasks import it themselves",
                        name, type(err).__name__, err)  # fmt: skip
            continue
        took[name] = round(time.perf_counter() - began, 2)
    quiet_libraries()  # libraries that set their loggers' levels on import
    return took


def forget_project_modules() -> list[str]:
    """Drop ``maga`` modules from ``sys.modules``, so forked tasks import today's code."""
    names = [n for n in sys.modules if n == "maga" or n.startswith("maga.")]
    for name in names:
        del sys.modules[name]
    return names


class WarmLocalExecutor(LocalExecutor):
    """``LocalExecutor`` whose forked task processes inherit ``preload_names()``."""

    def start(self) -> None:
        if multiprocessing.get_start_method() == "fork":
            began = time.perf_counter()
            took = preload(preload_names())
            forget_project_modules()
            log.info("task processes start with %s already imported (%.1f s in the scheduler)",
                     ", ".join(took) or "nothing", time.perf_counter() - began)  # fmt: skip
        else:  # each worker starts a new interpreter: nothing to inherit
            log.info("multiprocessing start method is not fork: nothing pre-imported")
        super().start()
