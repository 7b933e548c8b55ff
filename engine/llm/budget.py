"""The token budget of a prompt: an estimate, and the ladder of ever shorter renderings that fits it.

Tokens are estimated as characters / 4 (rounded up) plus a few per message: close enough for English
and code with the common tokenizers, and the same on every machine, so a prompt (and with it the
cassette's request hash) never depends on which tokenizer happens to be installed.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import structlog
from pydantic import BaseModel

log = structlog.get_logger(__name__)

CHARS_PER_TOKEN = 4
MESSAGE_OVERHEAD = 4  # role and separators, per message
DEFAULT_PROMPT_TOKENS = 12_000
REPAIR_RESERVE = 400  # what a repair round adds to a prompt: the model's short answer and the problems

Messages = list[dict[str, str]]


def estimate_tokens(text: str) -> int:
    return -(-len(text) // CHARS_PER_TOKEN)


def message_tokens(messages: Sequence[dict[str, str]]) -> int:
    return sum(estimate_tokens(m.get("content", "")) + MESSAGE_OVERHEAD for m in messages)


@dataclass(frozen=True)
class PromptBudget:
    """max_tokens bounds every prompt a level composes; the task brief may take up to brief_share of it."""

    max_tokens: int = DEFAULT_PROMPT_TOKENS
    brief_share: float = 0.4

    @property
    def brief_tokens(self) -> int:
        return int(self.max_tokens * self.brief_share)

    def share(self, fraction: float) -> int:
        return int(self.max_tokens * fraction)


def fit_messages(build: Callable[[int], Messages], rungs: int, budget: PromptBudget, purpose: str,
                 schema: type[BaseModel] | None = None, limit: int | None = None) -> Messages:
    """The first of build(0), build(1), ..., build(rungs - 1) that fits the budget (each rung a shorter
    rendering: fewer trials shown, a shorter brief), counting the JSON instruction and schema the client
    appends and room for a repair round. When even the last rung is too long, which happens only when
    what a prompt cannot do without (the space, code under repair) is larger than the budget alone, the
    last rung is used and a warning is logged."""
    from bilevel_evolve.engine.llm.client import with_json_instruction

    cap = (budget.max_tokens if limit is None else limit) - REPAIR_RESERVE
    messages: Messages = []
    for rung in range(rungs):
        messages = build(rung)
        sent = with_json_instruction(messages, schema) if schema is not None else messages
        if message_tokens(sent) <= cap:
            return messages
    log.warning("prompt_over_budget", purpose=purpose, tokens=message_tokens(messages), budget=cap)
    return messages
