"""In-process vLLM (offline batch API). One engine per process: build it, run the
stage's batch, then ``close()`` before another engine starts (see ``jobs.py``, which
gives each engine its own process)."""

from __future__ import annotations

import contextlib
import gc
import os
import time
from collections.abc import Iterable, Iterator
from typing import Any

from maga import hardware
from maga.config import VLLMEngineConfig
from maga.llm.base import GenRequest, GenResult
from maga.llm.chat import chat_prompt_ids
from maga.log import get_logger

log = get_logger("llm.vllm")
MIN_COMPLETION_TOKENS = 16


def engine_options(
    engine: VLLMEngineConfig, deterministic: bool, on_cpu: bool
) -> tuple[dict[str, str], dict[str, Any]]:
    """(environment, extra ``LLM`` arguments) for ``engine`` on this platform."""
    env: dict[str, str] = {}
    extra: dict[str, Any] = {}
    in_process = engine.single_process
    if deterministic and on_cpu:
        # Whole prompts per step: a chunked prefill would rewind the request's
        # generator, which CPU generators cannot do.
        extra["enable_chunked_prefill"] = False
    if deterministic and not on_cpu and not engine.batch_invariant:
        in_process = True  # deterministic scheduling (vLLM's reproducibility recipe)
    if engine.batch_invariant:
        env["VLLM_BATCH_INVARIANT"] = "1"
    if in_process:
        env["VLLM_ENABLE_V1_MULTIPROCESSING"] = "0"
        extra["distributed_executor_backend"] = "uni"
    if engine.speculative is not None:
        extra["speculative_config"] = engine.speculative.engine_args()
    if engine.lora is not None:
        extra.update(enable_lora=True, max_loras=engine.lora.max_loras,
                     max_lora_rank=engine.lora.max_rank)  # fmt: skip
    return env, extra


def hide_capped_amx(cpu: hardware.CPU) -> bool:
    """Make an ISA cap below ``amx`` hold for vLLM too. vLLM's CPU kernels pick their AMX
    paths by asking torch what the silicon has (``torch.cpu._is_amx_tile_supported``),
    not what ``ATEN_CPU_CAPABILITY``/``ONEDNN_MAX_CPU_ISA`` allow, so on an AMX machine
    capped to AVX2 an INT8 W8A8 model took the AMX GEMM, which takes only bf16/fp16
    activations, and failed in float32. Answering "no AMX" sends it where an AVX2 CPU
    goes (oneDNN's int8 GEMM, float32 activations). True when the answer was changed."""
    if cpu.flags_isa != "amx" or cpu.isa == "amx":
        return False
    import torch

    torch.cpu._is_amx_tile_supported = lambda: False
    torch.cpu._is_amx_fp16_supported = lambda: False
    log.info("ISA capped to %s: vLLM is told this CPU has no AMX", cpu.isa)
    return True


def engine_facts(llm: Any, precision: hardware.Precision, cpu: hardware.CPU,
                 on_cpu: bool) -> dict[str, Any]:  # fmt: skip
    """What this engine runs on: the dtype it was given and the one its model holds, the
    CPU's ISA level, and the threads its forward pass uses (recorded per stage)."""
    import torch

    facts: dict[str, Any] = {
        "dtype": precision.dtype, "dtype_requested": precision.requested,
        "dtype_reason": precision.reason, "isa": cpu.isa, "cpu_model": cpu.model,
        "cores": cpu.cores, "torch_threads": torch.get_num_threads(),
    }  # fmt: skip
    with contextlib.suppress(AttributeError):
        facts["model_dtype"] = str(llm.llm_engine.model_config.dtype).removeprefix("torch.")
    if not on_cpu:
        facts["device"] = "cuda"
    return facts


class VLLMBackend:
    name = "vllm"

    def __init__(
        self,
        model_path: str,
        engine: VLLMEngineConfig,
        seed: int = 0,
        *,
        deterministic: bool = False,
        seeds: bool | None = None,
    ) -> None:
        """``deterministic``: a regenerated chunk comes out byte-identical. Per-request
        seeds everywhere; on CPU whole-prompt prefill; on a GPU an in-process engine core,
        whose scheduling is deterministic (vLLM's offline reproducibility recipe: same
        requests, same GPU model, same vLLM version). ``engine.batch_invariant`` makes
        outputs independent of batching altogether (VLLM_BATCH_INVARIANT, Hopper+)."""
        if engine.kv_cache_space_gib and "VLLM_CPU_KVCACHE_SPACE" not in os.environ:
            os.environ["VLLM_CPU_KVCACHE_SPACE"] = str(engine.kv_cache_space_gib)
        if engine.single_process:  # before vLLM is imported at all
            os.environ["VLLM_ENABLE_V1_MULTIPROCESSING"] = "0"
        from vllm.platforms import current_platform

        on_cpu = current_platform.is_cpu()
        env, extra = engine_options(engine, deterministic, on_cpu=on_cpu)
        os.environ.update(env)
        cpu = hardware.cpu()
        if on_cpu:
            hide_capped_amx(cpu)
        self.precision = hardware.resolve_dtype(engine.dtype, on_gpu=not on_cpu, isa=cpu.isa)
        log.info("%s: dtype %s (engine.dtype %s; %s)", model_path, self.precision.dtype,
                 engine.dtype, self.precision.reason)  # fmt: skip
        from vllm import LLM

        started = time.perf_counter()
        self.max_model_len = engine.max_model_len
        self.llm = LLM(
            model=model_path,
            max_model_len=engine.max_model_len,
            gpu_memory_utilization=engine.gpu_memory_utilization,
            max_num_seqs=engine.max_num_seqs,
            dtype=self.precision.dtype,
            enforce_eager=engine.enforce_eager,
            seed=seed,
            structured_outputs_config={"backend": "xgrammar", "disable_any_whitespace": True},
            **extra,
        )
        self.tokenizer = self.llm.get_tokenizer()
        # ``seeds``: per-request seeds (None: when ``deterministic``). vLLM's CPU sampler
        # rejects them under chunked prefill ("CPU Generator does not use offset"), which
        # only ``deterministic`` turns off; on a GPU they cost throughput (vLLM 0.24 loops
        # over seeded requests in Python), so only a run that asks for them pays.
        on_cpu = current_platform.is_cpu()
        self.per_request_seed = deterministic if seeds is None else seeds
        if on_cpu and not deterministic:
            self.per_request_seed = False
        self.serves_lora = engine.lora is not None
        self._loras: dict[str, Any] = {}  # adapter folder -> its LoRARequest
        self.startup_seconds = time.perf_counter() - started
        self.facts = engine_facts(self.llm, self.precision, cpu, on_cpu)
        log.info("vLLM engine for %s ready in %.1fs", model_path, self.startup_seconds)

    def _sampling(self, req: GenRequest, max_tokens: int) -> Any:
        from vllm import SamplingParams
        from vllm.sampling_params import StructuredOutputsParams

        structured = None
        if req.constraint is not None:
            c = req.constraint
            structured = StructuredOutputsParams(
                json=c.json_schema, choice=list(c.choice) if c.choice else None
            )
        return SamplingParams(
            max_tokens=max_tokens,
            temperature=req.temperature,
            top_p=req.top_p,
            seed=req.seed if self.per_request_seed else None,
            ignore_eos=req.ignore_eos,
            structured_outputs=structured,
        )

    def lora_request(self, adapter: str | None) -> Any:
        """The ``LoRARequest`` of the adapter folder ``adapter`` (None: the base model).
        Each folder gets one id for the engine's lifetime, so its weights load once."""
        if adapter is None:
            return None
        if not self.serves_lora:
            raise ValueError(f"adapter {adapter}: this engine was started without LoRA")
        if adapter not in self._loras:
            from vllm.lora.request import LoRARequest

            n = len(self._loras) + 1
            self._loras[adapter] = LoRARequest(f"adapter-{n}", n, adapter)
        return self._loras[adapter]

    def _prepare(self, req: GenRequest) -> tuple[dict, Any] | GenResult:
        """The engine prompt and sampling params of one request, or its error result."""
        ids = chat_prompt_ids(self.tokenizer, req.messages)  # thinking off
        room = self.max_model_len - len(ids)
        if room < MIN_COMPLETION_TOKENS:
            return GenResult("", prompt_tokens=len(ids), error="prompt_too_long")
        return {"prompt_token_ids": list(ids)}, self._sampling(req, min(req.max_tokens, room))

    @staticmethod
    def _result(out: Any) -> GenResult:
        comp = out.outputs[0]
        return GenResult(
            text=comp.text,
            prompt_tokens=len(out.prompt_token_ids or []),
            completion_tokens=len(comp.token_ids),
            finish_reason=comp.finish_reason,
        )

    def generate(self, requests: list[GenRequest], adapter: str | None = None) -> list[GenResult]:
        """All requests in one ``LLM.generate`` call (the engine batches them), through
        the LoRA adapter folder ``adapter`` when one is given."""
        lora = self.lora_request(adapter)
        results: list[GenResult | None] = [None] * len(requests)
        prompts, params, index = [], [], []
        for i, req in enumerate(requests):
            prepared = self._prepare(req)
            if isinstance(prepared, GenResult):
                results[i] = prepared
                continue
            prompts.append(prepared[0])
            params.append(prepared[1])
            index.append(i)
        if prompts:
            outputs = self.llm.generate(prompts, params, use_tqdm=False, lora_request=lora)
            for i, out in zip(index, outputs, strict=True):
                results[i] = self._result(out)
        return [r for r in results if r is not None]

    def stream(
        self,
        requests: Iterable[tuple[Any, GenRequest]],
        window: int,
        adapter: str | None = None,
    ) -> Iterator[tuple[Any, GenResult]]:
        """``(tag, result)`` for each ``(tag, request)``, in the order they finish.

        At most ``window`` requests are in the engine at once; each finished one is
        replaced at once by the next, so the engine's batch never drains at a chunk
        boundary (``generate`` waits for its slowest request before the next call can
        start) and memory holds the window, not the whole input."""
        from vllm.sampling_params import RequestOutputKind

        if window < 1:
            raise ValueError(f"stream window must be at least 1, got {window}")
        lora = self.lora_request(adapter)
        engine = self.llm.llm_engine
        source = iter(requests)
        tags: dict[str, Any] = {}
        count, exhausted = 0, False
        while True:
            while not exhausted and len(tags) < window:
                item = next(source, None)
                if item is None:
                    exhausted = True
                    break
                tag, req = item
                prepared = self._prepare(req)
                if isinstance(prepared, GenResult):
                    yield tag, prepared
                    continue
                prompt, params = prepared
                params.output_kind = RequestOutputKind.FINAL_ONLY
                rid = f"s{count}"
                count += 1
                tags[rid] = tag
                engine.add_request(rid, prompt, params, lora_request=lora)
            if not tags:
                return
            for out in engine.step():
                if out.finished and out.request_id in tags:
                    yield tags.pop(out.request_id), self._result(out)

    def close(self) -> None:
        engine = getattr(self, "llm", None)
        if engine is None:
            return
        shutdown = getattr(getattr(engine, "llm_engine", None), "engine_core", None)
        if shutdown is not None and hasattr(shutdown, "shutdown"):
            shutdown.shutdown()
        del self.llm
        gc.collect()
