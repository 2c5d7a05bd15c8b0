"""Accelerator memory that a process holds but no longer uses.

vLLM refuses to start an engine when the GPU's free memory is below
``gpu_memory_utilization x total`` (vLLM 0.24, "Free memory on device"). A process
that trained a model (``maga run``, ``maga demo``, ``airflow dags test``) keeps
PyTorch's CUDA cache after training, so its next engine, even in a child process,
would see the GPU as taken. ``release_cuda_cache`` collects garbage and returns the
cache to the driver; it is a no-op in a process that never touched CUDA.
"""

from __future__ import annotations

import gc
import sys
from typing import Any

from maga.log import get_logger

log = get_logger("llm.memory")


def release_cuda_cache(why: str) -> dict[str, Any] | None:
    """Collect garbage and empty PyTorch's CUDA cache. Returns the bytes reserved
    before and after and the device's free bytes, or None when CUDA was never used
    here (torch not imported, or CUDA not initialised: nothing to free)."""
    gc.collect()
    torch = sys.modules.get("torch")
    if torch is None or not torch.cuda.is_initialized():
        return None
    before = int(torch.cuda.memory_reserved())
    torch.cuda.empty_cache()
    after = int(torch.cuda.memory_reserved())
    free, total = (int(x) for x in torch.cuda.mem_get_info())
    log.info(
        "%s: CUDA cache %.2f -> %.2f GiB reserved; %.1f of %.1f GiB free",
        why, before / 2**30, after / 2**30, free / 2**30, total / 2**30,
    )  # fmt: skip
    return {"reserved_before": before, "reserved_after": after, "free": free, "total": total}
