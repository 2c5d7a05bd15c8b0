"""Chat-template encoding with thinking turned off, and the check for thinking output.

Reasoning models such as Qwen3 open every free-text answer with ``<think>…</think>``
unless their chat template is rendered with ``enable_thinking=False``. The pipeline wants
the answer only: the offline engine (``VLLMBackend``), the HTTP backend (vLLM's
``chat_template_kwargs`` request field) and SFT's prompt encoding all render chats
through here, and an output that still holds a ``<think>`` block is a counted reject,
``thinking_output``.
"""

from __future__ import annotations

from typing import Any

#: The chat-template variables that turn thinking off (Qwen3 and templates like it).
THINKING_OFF: dict[str, Any] = {"enable_thinking": False}
#: Reject reason of an output that holds a thinking block.
THINKING_REJECT = "thinking_output"


def _template_text(tokenizer: Any) -> str:
    template = getattr(tokenizer, "chat_template", None)
    if isinstance(template, dict):  # named templates
        return "\n".join(str(t) for t in template.values())
    return template or ""


def supports_thinking_switch(tokenizer: Any) -> bool:
    """Whether the tokenizer's chat template reads ``enable_thinking``."""
    return "enable_thinking" in _template_text(tokenizer)


def template_kwargs(tokenizer: Any) -> dict[str, Any]:
    """Extra chat-template variables for ``tokenizer``: thinking off where supported."""
    return dict(THINKING_OFF) if supports_thinking_switch(tokenizer) else {}


def chat_prompt_text(tokenizer: Any, messages: list[dict[str, Any]]) -> str:
    """The chat-templated prompt with the assistant header, thinking off."""
    return tokenizer.apply_chat_template(
        messages, add_generation_prompt=True, tokenize=False, **template_kwargs(tokenizer)
    )


def chat_prompt_ids(tokenizer: Any, messages: list[dict[str, Any]]) -> list[int]:
    """Token ids of :func:`chat_prompt_text` (as the template tokenizes them)."""
    ids = tokenizer.apply_chat_template(
        messages, add_generation_prompt=True, tokenize=True, **template_kwargs(tokenizer)
    )
    if hasattr(ids, "input_ids") or isinstance(ids, dict):  # BatchEncoding
        ids = ids["input_ids"]
    return list(ids)


def has_thinking(text: str) -> bool:
    """True when ``text`` holds a thinking block (or its opening or closing tag)."""
    return "<think>" in text or "</think>" in text
