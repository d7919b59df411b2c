"""The optional LLM condenser (see :mod:`bot.llm.condenser`): the prompt
(:mod:`bot.llm.prompt`), the per-field checks (:mod:`bot.llm.checks`) and the merge of a
checked answer with the extractive briefing (:mod:`bot.llm.answer`)."""

from .answer import LLMError, merge_answer, parse_answer
from .condenser import (
    CHARS_PER_TOKEN,
    MAX_COMPLETION_TOKENS,
    LLMCondenser,
    TokenUsage,
    material_digest,
)
from .prompt import RESPONSE_SCHEMA, SYSTEM_PROMPT, build_messages

__all__ = [
    "CHARS_PER_TOKEN",
    "MAX_COMPLETION_TOKENS",
    "RESPONSE_SCHEMA",
    "SYSTEM_PROMPT",
    "LLMCondenser",
    "LLMError",
    "TokenUsage",
    "build_messages",
    "material_digest",
    "merge_answer",
    "parse_answer",
]
