"""Models, requests and engine settings for ``make gpu-check`` (maga.deploy.gpu_check,
maga.bench.gpu_throughput).

Everything here runs on a CPU, so the check's dry mode builds the same inputs the GPU
run loads: small random-weight models of the real architectures (Qwen3 and Llama),
an FP8 compressed-tensors checkpoint, two LoRA adapters, and request files built from
the demo corpus with the pipeline's own prompt builders. ``smollm2_real`` converts the
demo's offline SmolLM2-135M-Instruct (a GGUF file) to safetensors wherever it runs.
"""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path
from typing import Any

from maga.llm.base import GenRequest

#: A Qwen3ForCausalLM with Qwen3's layout (q/k norms, GQA, head_dim 64) at toy width.
TINY_QWEN3 = {"hidden_size": 256, "intermediate_size": 768, "num_hidden_layers": 4,
              "num_attention_heads": 4, "num_key_value_heads": 2, "head_dim": 64}  # fmt: skip
#: Qwen3-1.7B's shape (the vocabulary is the tokenizer's the check carries).
QWEN3_1_7B = {"hidden_size": 2048, "intermediate_size": 6144, "num_hidden_layers": 28,
              "num_attention_heads": 16, "num_key_value_heads": 8, "head_dim": 128}  # fmt: skip


def _tokenizer(path: str) -> Any:
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(path)


def random_model(out: Path, arch: str, shape: dict[str, Any], tokenizer_dir: str,
                 device: str = "cpu") -> Path:  # fmt: skip
    """A random-weight ``arch`` ("qwen3" or "llama") model of ``shape`` in bf16, with the
    tokenizer of ``tokenizer_dir``; built once."""
    if (out / "config.json").exists():
        return out
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM, Qwen3Config, Qwen3ForCausalLM

    tok = _tokenizer(tokenizer_dir)
    config_cls, model_cls = {"qwen3": (Qwen3Config, Qwen3ForCausalLM),
                             "llama": (LlamaConfig, LlamaForCausalLM)}[arch]  # fmt: skip
    cfg = config_cls(vocab_size=len(tok), max_position_embeddings=8192, tie_word_embeddings=True,
                     bos_token_id=tok.bos_token_id, eos_token_id=tok.eos_token_id,
                     pad_token_id=tok.pad_token_id, **shape)  # fmt: skip
    torch.manual_seed(0)
    with torch.device(device):
        model = model_cls(cfg).to(torch.bfloat16)
    model.save_pretrained(out)
    tok.save_pretrained(out)
    return out


def fp8(src: Path, out: Path) -> dict[str, Any]:
    """The FP8 (W8A8, dynamic activation scales) compressed-tensors checkpoint of ``src``,
    written by the pipeline's builtin quantizer (the same format llm-compressor writes)."""
    from maga.quantize.quantize import quantize_model

    if (out / "config.json").exists():
        cfg = json.loads((out / "config.json").read_text())
        return {"quant_method": cfg["quantization_config"]["quant_method"], "quantized_layers": -1}
    return quantize_model(src, out, "fp8-w8a8", tool="builtin")


def lora_adapter(base: Path, out: Path, seed: int, rank: int = 8) -> Path:
    """A PEFT LoRA adapter of ``base`` with random, non-zero A and B (so it changes the
    output), on every projection the pipeline's LoRA training targets."""
    if (out / "adapter_config.json").exists():
        return out
    import torch
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM

    from maga.config import LORA_TARGETS
    from maga.models.adapters import write_meta

    model = AutoModelForCausalLM.from_pretrained(str(base), dtype=torch.float32)
    peft = get_peft_model(model, LoraConfig(r=rank, lora_alpha=2 * rank,
                                            target_modules=list(LORA_TARGETS)))  # fmt: skip
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, p in peft.named_parameters():
            if "lora_" in name:
                p.copy_(torch.randn(p.shape, generator=gen) * 0.05)
    peft.save_pretrained(out, safe_serialization=True)
    write_meta(out, base, rank=rank)
    return out


def smollm2_real(out: Path) -> Path:
    """SmolLM2-135M-Instruct with its real weights, from the demo's offline model."""
    if (out / "config.json").exists():
        return out
    from maga.models.builtin import _convert_smollm2

    out.mkdir(parents=True, exist_ok=True)
    _convert_smollm2(out)
    return out


def shape_of(model_dir: Path) -> dict[str, Any]:
    cfg = json.loads((model_dir / "config.json").read_text())
    keys = ("hidden_size", "intermediate_size", "num_hidden_layers", "num_attention_heads",
            "num_key_value_heads")  # fmt: skip
    return {k: cfg[k] for k in keys}


# ----------------------------------------------------------------------------- requests
def demo_docs(n: int) -> list[str]:
    from maga.corpus.builtin import wiki_records

    docs = [r["text"] for r in wiki_records(languages=["en"], limit=4 * n) if len(r["text"]) > 400]
    return [docs[i % len(docs)] for i in range(n)]


def rewrite_requests(n: int, max_tokens: int, seeded: bool = True) -> list[GenRequest]:
    """The reformulate step's own requests (``REWRITE.request``) over demo documents,
    each asking a genre/audience rewrite with the gpu profile's sampling settings."""
    from maga.config import load_config
    from maga.operations import REWRITE

    cfg = load_config("gpu")
    genres = ("poem", "news report", "lecture notes", "dialogue", "FAQ")
    out = []
    for i, doc in enumerate(demo_docs(n)):
        req = REWRITE.request(
            cfg, f"rw-{i}", doc[:3000], genres[i % 5], f"readers aged {8 + i % 60}"
        )
        out.append(replace(req, max_tokens=max_tokens, seed=req.seed if seeded else None))
    return out


def ga_requests(n: int) -> list[GenRequest]:
    from maga.config import load_config
    from maga.operations import GA

    cfg = load_config("gpu")
    return [GA.request(cfg, f"ga-{i}", doc[:2000]) for i, doc in enumerate(demo_docs(n))]


def save_requests(path: Path, reqs: list[GenRequest]) -> Path:
    from maga.llm.jobs import write_requests

    write_requests(path, reqs)
    return path


def load_requests(path: Path) -> list[GenRequest]:
    from maga.llm.jobs import request_from_dict

    return [request_from_dict(json.loads(ln)) for ln in path.read_text().splitlines() if ln]


def load_or_make(path: Path, make: Any) -> list[GenRequest]:
    """The requests saved at ``path``, made (and saved) once by ``make()``."""
    if not path.exists():
        save_requests(path, make())
    return load_requests(path)


def gpu_engine(**over: Any) -> dict[str, Any]:
    """The gpu profile's student engine settings, with ``over`` on top."""
    from maga.config import load_config

    engine = load_config("gpu").student_engine.model_dump()
    engine.update(max_model_len=4096, gpu_memory_utilization=0.3)
    engine.update(over)
    return engine
