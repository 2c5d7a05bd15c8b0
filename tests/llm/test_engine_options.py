"""What the backend sets for each platform and mode (README "Determinism")."""

from __future__ import annotations

import pytest

from maga.config import VLLMEngineConfig, load_config
from maga.llm.vllm_backend import engine_options

pytestmark = pytest.mark.timeout(30)
GPU = load_config("gpu").student_engine
MULTIPROC_OFF = {"VLLM_ENABLE_V1_MULTIPROCESSING": "0"}


def test_gpu_refresh_session_schedules_in_process() -> None:
    assert GPU.single_process is False  # throughput mode for the tool-model stages
    env, extra = engine_options(GPU, deterministic=True, on_cpu=False)
    assert env == MULTIPROC_OFF and extra == {"distributed_executor_backend": "uni"}
    # Not deterministic (tool-model stages): separate engine core, nothing forced.
    assert engine_options(GPU, deterministic=False, on_cpu=False) == ({}, {})


def test_batch_invariant_mode() -> None:
    invariant = GPU.model_copy(update={"batch_invariant": True})
    env, extra = engine_options(invariant, deterministic=True, on_cpu=False)
    assert env == {"VLLM_BATCH_INVARIANT": "1"} and extra == {}


def test_cpu_deterministic_turns_chunked_prefill_off() -> None:
    cpu = VLLMEngineConfig()  # single_process by default
    env, extra = engine_options(cpu, deterministic=True, on_cpu=True)
    assert env == MULTIPROC_OFF
    assert extra == {"enable_chunked_prefill": False, "distributed_executor_backend": "uni"}


def test_lora_serving_only_when_asked() -> None:
    from maga.config import LoRAServingConfig

    cpu = VLLMEngineConfig()
    assert cpu.lora is None  # no adapter: the engine arguments of before
    assert "enable_lora" not in engine_options(cpu, deterministic=True, on_cpu=True)[1]
    lora = cpu.model_copy(update={"lora": LoRAServingConfig.for_rank(8)})
    _, extra = engine_options(lora, deterministic=True, on_cpu=True)
    assert (extra["enable_lora"], extra["max_loras"], extra["max_lora_rank"]) == (True, 2, 8)
