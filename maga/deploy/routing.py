"""Where tasks that load a model run: the Celery queue and Airflow pool, from the profile.

Both DAG files call :func:`model_routing` at parse time, so ``MAGA_PROFILE=gpu`` alone
sends every model task of ``maga_tool_models`` and ``maga_corpus_refresh`` to the
``gpu`` queue (served by GPU workers) and the ``gpu`` pool (one slot per GPU, created by
``docker/airflow-init.sh``). ``MAGA_MODEL_QUEUE`` / ``MAGA_MODEL_POOL`` override the
profile's ``refresh.model_queue`` / ``refresh.model_pool`` when set and not empty.
Cheap: it reads one YAML file and imports nothing heavy.
"""

from __future__ import annotations

import os
from typing import NamedTuple

DEFAULT_PROFILE = "demo"


class Routing(NamedTuple):
    profile: str
    queue: str
    pool: str


def model_routing(profile: str | None = None) -> Routing:
    """Queue and pool for model tasks under ``profile`` (default: ``$MAGA_PROFILE``)."""
    from maga.config import load_config

    name = profile or os.environ.get("MAGA_PROFILE") or DEFAULT_PROFILE
    refresh = load_config(name).refresh
    queue = os.environ.get("MAGA_MODEL_QUEUE", "").strip() or refresh.model_queue
    pool = os.environ.get("MAGA_MODEL_POOL", "").strip() or refresh.model_pool
    return Routing(name, queue, pool)


POOL_SLOTS_ENV = "MAGA_GPU_POOL_SLOTS"
GPU_POOL = "gpu"


def pools_to_create(profile: str | None = None) -> dict[str, int]:
    """Pools the deployment needs: ``gpu`` and the profile's model pool (not Airflow's
    own ``default_pool``), each with ``$MAGA_GPU_POOL_SLOTS`` slots (one per GPU; 1)."""
    raw = os.environ.get(POOL_SLOTS_ENV, "").strip() or "1"
    if not raw.isdigit() or int(raw) < 1:
        raise ValueError(f"{POOL_SLOTS_ENV}={raw!r}: expected a positive number of GPUs")
    names = {GPU_POOL, model_routing(profile).pool} - {"default_pool"}
    return {name: int(raw) for name in sorted(names)}


def create_pools(profile: str | None = None) -> dict[str, int]:
    """Create or resize the pools of :func:`pools_to_create` in Airflow's metadata DB."""
    from airflow.models.pool import Pool

    pools = pools_to_create(profile)
    for name, slots in pools.items():
        Pool.create_or_update_pool(
            name, slots, "MAGA tasks that load a model (one slot per GPU)", False
        )
        print(f"pool {name}: {slots} slot(s)")
    return pools


if __name__ == "__main__":  # docker/airflow-init.sh: python -m maga.deploy.routing
    create_pools()
