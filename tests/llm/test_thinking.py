"""Thinking off: a chat template that reads ``enable_thinking`` (Qwen3-style, built here
from the tiny model's tokenizer) is rendered with it false offline, in training and over
HTTP; an output that still holds a ``<think>`` block is a counted ``thinking_output``."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from maga.config import HTTPBackendConfig, RefreshCleanConfig
from maga.distill.train import encode_example
from maga.llm.base import GenRequest
from maga.llm.chat import chat_prompt_ids, chat_prompt_text, has_thinking, template_kwargs
from maga.llm.connection import Endpoint
from maga.llm.http_backend import OpenAIHTTPBackend
from maga.models.builtin import TINY, resolve_model
from maga.refresh.clean import clean_group, learn

from .servers import ScriptedServer, chat_reply

pytestmark = pytest.mark.timeout(60)

# Qwen3's switch: thinking off pre-fills an empty thinking block after the assistant header.
THINKING_TEMPLATE = (
    "{% for m in messages %}<|im_start|>{{ m['role'] }}\n{{ m['content'] }}<|im_end|>\n"
    "{% endfor %}{% if add_generation_prompt %}<|im_start|>assistant\n"
    "{% if enable_thinking is defined and enable_thinking is false %}"
    "<think>\n\n</think>\n\n{% endif %}{% endif %}"
)
MESSAGES = [{"role": "user", "content": "Rewrite this for children."}]


@pytest.fixture(scope="module")
def plain() -> Any:
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(resolve_model(TINY))


@pytest.fixture(scope="module")
def thinking(plain: Any) -> Any:
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(resolve_model(TINY))
    tok.chat_template = THINKING_TEMPLATE
    return tok


def test_template_with_the_switch_gets_thinking_off(thinking: Any) -> None:
    assert template_kwargs(thinking) == {"enable_thinking": False}
    text = chat_prompt_text(thinking, MESSAGES)
    assert text.endswith("<|im_start|>assistant\n<think>\n\n</think>\n\n")
    # Without the switch the same template would let the model think.
    default = thinking.apply_chat_template(MESSAGES, add_generation_prompt=True, tokenize=False)
    assert "<think>" not in default
    ids = chat_prompt_ids(thinking, MESSAGES)
    assert thinking.decode(ids) == text


def test_template_without_the_switch_is_unchanged(plain: Any) -> None:
    assert template_kwargs(plain) == {}
    expected = plain.apply_chat_template(MESSAGES, add_generation_prompt=True, tokenize=False)
    assert chat_prompt_text(plain, MESSAGES) == expected


def test_training_prompt_matches_inference_prompt(thinking: Any) -> None:
    record = {"messages": MESSAGES, "completion": "Once upon a time."}
    example = encode_example(thinking, record, max_seq_len=512)
    prompt_len = sum(1 for x in example["labels"] if x == -100)
    assert example["input_ids"][:prompt_len] == chat_prompt_ids(thinking, MESSAGES)
    assert "</think>" in thinking.decode(example["input_ids"][:prompt_len])
    assert "<think>" not in thinking.decode(example["input_ids"][prompt_len:])


@pytest.fixture
def server() -> Iterator[ScriptedServer]:
    with ScriptedServer() as srv:
        yield srv


def test_http_requests_carry_chat_template_kwargs(server: ScriptedServer) -> None:
    server.handler = lambda _r, _n: chat_reply("fine")
    kwargs = HTTPBackendConfig().chat_template_kwargs  # the default
    with OpenAIHTTPBackend(Endpoint(server.base_url), "m", backoff_s=0,
                           chat_template_kwargs=kwargs) as backend:  # fmt: skip
        backend.generate([GenRequest(messages=MESSAGES, max_tokens=8)])
    with OpenAIHTTPBackend(Endpoint(server.base_url), "m", backoff_s=0,
                           chat_template_kwargs={}) as backend:  # fmt: skip
        backend.generate([GenRequest(messages=MESSAGES, max_tokens=8)])
    first, second = server.received
    assert first.body["chat_template_kwargs"] == {"enable_thinking": False}
    assert "chat_template_kwargs" not in second.body


def test_thinking_output_is_a_counted_reject() -> None:
    source = (
        "The Danube river flows through ten countries in central and eastern Europe. "
        "Its delta in Romania hosts pelicans, sturgeon and hundreds of bird species."
    )
    good = (
        "For young sailors: the Danube flows through ten countries of Europe; its delta "
        "in Romania hosts pelicans and sturgeon and many bird species."
    )
    rows = [
        {"id": f"doc#{k}", "source_id": "doc", "unit_id": "doc", "part": 0, "pair_index": k,
         "genre": "g", "audience": "a", "text": text, "error": None}
        for k, text in enumerate([good, "<think>\nThe user wants...\n</think>\n\n" + good])
    ]  # fmt: skip
    cfg = RefreshCleanConfig(min_chars=20, min_keyword_coverage=0.1, template_min_docs=3,
                             boilerplate_min_docs=3)  # fmt: skip
    result = clean_group(rows, {"doc": source}, learn([[source]], cfg), cfg)
    assert [r["id"] for r in result.kept] == ["doc#0"]
    assert [(r["id"], reason) for r, reason, _ in result.dropped] == [("doc#1", "thinking_output")]
    assert has_thinking("</think> answer") and not has_thinking("I think so.")


@pytest.mark.slow
@pytest.mark.timeout(600)
def test_vllm_engine_renders_prompts_with_thinking_off(thinking: Any, tmp_path) -> None:
    """A real vLLM engine on a copy of the tiny model whose template has the switch."""
    import shutil

    from maga.llm.jobs import ModelSpec, run_generation

    model = tmp_path / "tiny-thinking"
    shutil.copytree(resolve_model(TINY), model)
    thinking.save_pretrained(model)  # same vocabulary, the Qwen3-style template
    engine = {"max_model_len": 512, "max_num_seqs": 4, "kv_cache_space_gib": 1}
    spec = ModelSpec(label="thinking", path=str(model), engine=engine)
    (result,) = run_generation(spec, [GenRequest(messages=MESSAGES, max_tokens=4)]).results
    assert result.ok, result.error
    assert result.prompt_tokens == len(chat_prompt_ids(thinking, MESSAGES))
    default = thinking.apply_chat_template(MESSAGES, add_generation_prompt=True, tokenize=True)
    assert result.prompt_tokens > len(default["input_ids"])  # the template without the switch
