"""Where tasks that load a model run: the Celery queue, the Airflow pool and how many of
the pool's slots one such task holds, from the profile.

Both DAG files call :func:`model_routing` at parse time, so ``MAGA_PROFILE=gpu`` alone
sends every model task of ``maga_tool_models`` and ``maga_corpus_refresh`` to the
``gpu`` queue (served by GPU workers) and the ``gpu`` pool (one slot per GPU, created by
``docker/airflow-init.sh``). ``MAGA_MODEL_QUEUE`` / ``MAGA_MODEL_POOL`` override the
profile's ``refresh.model_queue`` / ``refresh.model_pool`` when set and not empty.

On a CPU the pool counts cores (``cpu_models``: one slot per core of the machine,
``MAGA_MODEL_POOL_SLOTS`` overrides): a model task holds as many slots as the cores its
engines bind, so tasks whose engines would fight over the same cores run one after the
other instead of side by side (two mapped shard tasks on 2 cores, each starting two
engines that bind both cores, made a demo refresh 3x slower than the CLI). A task that
trains with one thread (a mix-evaluation proxy) holds one slot, and so does a refresh
shard's gate or clean step (:meth:`Routing.cpu_step`).
Cheap: it reads one YAML file and imports nothing heavy.
"""

from __future__ import annotations

import os
from typing import NamedTuple

DEFAULT_PROFILE = "demo"
POOL_SLOTS_ENV = "MAGA_GPU_POOL_SLOTS"
CPU_POOL_SLOTS_ENV = "MAGA_MODEL_POOL_SLOTS"
GPU_POOL = "gpu"
CPU_POOL = "cpu_models"  # the CPU profiles' refresh.model_pool


class Routing(NamedTuple):
    profile: str
    queue: str
    pool: str
    slots: int = 1  # pool slots one engine task holds (cores on a CPU pool; 1 on a GPU's)
    on_gpu: bool = False  # the profile routes model tasks to GPUs

    def cpu_step(self) -> dict:
        """Operator arguments for a task that computes on one core without a model (a
        refresh shard's gate or clean): on a CPU pool it takes one slot, so it never
        runs beside an engine task that holds every core (an engine's bound OpenMP
        threads slow down several-fold when another process shares a core: a demo
        judge ran at 26 tok/s beside a clean task, 88 tok/s alone). Nothing on a GPU
        pool or the default pool."""
        if self.on_gpu or self.pool == "default_pool":
            return {}
        return {"pool": self.pool, "pool_slots": 1}


def _positive(name: str, default: int) -> int:
    raw = os.environ.get(name, "").strip()
    if not raw:
        return default
    if not raw.isdigit() or int(raw) < 1:
        raise ValueError(f"{name}={raw!r}: expected a positive whole number")
    return int(raw)


def bound_cores(bind: str | None, cores: int) -> int:
    """Cores one vLLM CPU engine's OpenMP threads bind: ``VLLM_CPU_OMP_THREADS_BIND``
    as a list of CPU ids and ranges (``0-3,8``; ``|`` separates the ranks of one engine,
    the first is counted), else every core (vLLM's ``auto`` binds the cores it sees)."""
    bind = (bind or "").strip()
    if not bind or bind in ("auto", "all", "nobind"):
        return cores
    ids: set[int] = set()
    for part in bind.split("|")[0].split(","):
        lo, _, hi = part.strip().partition("-")
        if not lo.isdigit() or (hi and not hi.isdigit()):
            raise ValueError(f"VLLM_CPU_OMP_THREADS_BIND={bind!r}: expected CPU ids like 0-3,8")
        ids.update(range(int(lo), int(hi or lo) + 1))
    return max(1, min(len(ids), cores))


def cpu_pool_slots(cores: int | None = None) -> int:
    """Slots of the CPU model pool: ``$MAGA_MODEL_POOL_SLOTS``, else this machine's cores
    (give it workers x cores when several Celery workers serve the model queue)."""
    return _positive(CPU_POOL_SLOTS_ENV, cores or os.cpu_count() or 1)


def engine_task_slots(cores: int | None = None) -> int:
    """Slots a CPU task that starts engines holds: the cores its engines bind, at most
    the pool's slots (Airflow never schedules a task asking for more than its pool has)."""
    cores = cores or os.cpu_count() or 1
    used = bound_cores(os.environ.get("VLLM_CPU_OMP_THREADS_BIND"), cores)
    return max(1, min(used, cpu_pool_slots(cores)))


def model_routing(profile: str | None = None) -> Routing:
    """Queue, pool and slots per task for model tasks under ``profile`` (default:
    ``$MAGA_PROFILE``). A profile routed to ``gpu`` counts GPUs: one slot per task."""
    from maga.config import load_config

    name = profile or os.environ.get("MAGA_PROFILE") or DEFAULT_PROFILE
    refresh = load_config(name).refresh
    on_gpu = GPU_POOL in (refresh.model_queue, refresh.model_pool)
    queue = os.environ.get("MAGA_MODEL_QUEUE", "").strip() or refresh.model_queue
    pool = os.environ.get("MAGA_MODEL_POOL", "").strip() or refresh.model_pool
    slots = 1 if on_gpu or pool == "default_pool" else engine_task_slots()
    return Routing(name, queue, pool, slots, on_gpu)


def pools_to_create(profile: str | None = None) -> dict[str, int]:
    """Pools the deployment needs (never Airflow's own ``default_pool``): ``gpu`` with
    ``$MAGA_GPU_POOL_SLOTS`` slots (one per GPU; 1), and the profile's model pool: as
    many slots as GPUs on a GPU profile, :func:`cpu_pool_slots` cores on a CPU one."""
    gpus = _positive(POOL_SLOTS_ENV, 1)
    routing = model_routing(profile)
    pools = {GPU_POOL: gpus}
    if routing.pool != "default_pool":
        pools[routing.pool] = gpus if routing.on_gpu else cpu_pool_slots()
    return dict(sorted(pools.items()))


def create_pools(profile: str | None = None) -> dict[str, int]:
    """Create or resize the pools of :func:`pools_to_create` in Airflow's metadata DB."""
    from airflow.models.pool import Pool

    pools, routing = pools_to_create(profile), model_routing(profile)
    for name, slots in pools.items():
        what = "cores" if name == routing.pool and not routing.on_gpu else "GPUs"
        Pool.create_or_update_pool(
            name, slots, f"MAGA tasks that load a model (slots: {what})", False
        )
        print(f"pool {name}: {slots} slot(s)")
    return pools


if __name__ == "__main__":  # docker/airflow-init.sh: python -m maga.deploy.routing
    create_pools()
