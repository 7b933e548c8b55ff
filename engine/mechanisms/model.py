"""What a mechanism may ask of the engine: `ctx.llm`, answered here, on the host, with the run's model.

The host passes a hook's request up (sandbox/hosts/llm_bridge.py: decoded, capped, counted against
interface.MAX_LLM_CALLS per hook call); this module makes the call. With a client (`--agent llm`, or a
replay of one) it is an exchange of the run's one LLMClient, so it is priced, counted against --max-cost
(spent: BudgetExceeded stops the run as any other LLM spending does), recorded in the cassette and
served from it on resume and replay. Its purpose names Level 2 ("level2/<hook>/<mechanism id>"). The
request is the mechanism's text: the prompt is fenced as data and the mechanism's system text is quoted
inside the engine's own system message (engine/prompts/mechanism_llm.md), never sent as one.

Without a client (offline runs, `evolve replay`) the deterministic stand-in answers: the smoke test's
(ground/contract/llm.stand_in_answer: the prompt's text after its first blank line), edited as the
offline writer edits a draft: every wordy phrase the table knows made plain, and the longest sentence
over SPLIT_WORDS words split (domains/text/operators). The same request always gets the same answer,
and nothing is spent.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from bilevel_evolve.domains.text import operators
from bilevel_evolve.engine.llm.budget import estimate_tokens
from bilevel_evolve.engine.llm.prompts import render_prompt
from bilevel_evolve.ground.contract.interface import MAX_LLM_PROMPT_CHARS, MAX_LLM_SYSTEM_CHARS
from bilevel_evolve.ground.contract.llm import stand_in_answer
from bilevel_evolve.ground.untrusted import for_prompt
from bilevel_evolve.sandbox.hosts.llm_bridge import LlmRequest

if TYPE_CHECKING:
    from bilevel_evolve.engine.llm.client import LLMClient

PURPOSE = "level2"  # what a mechanism asks is Level 2's spending
SPLIT_WORDS = 25  # the offline stand-in splits its answer's longest sentence over this many words
MAX_PLAIN_EDITS = 64  # plain_words makes one phrase plain per call: this many at most


@dataclass(frozen=True)
class ModelAnswer:
    text: str
    origin: str  # "live", "cassette" or "offline"
    purpose: str
    prompt_tokens: int
    completion_tokens: int
    cost_usd: float


def purpose_of(request: LlmRequest) -> str:
    return f"{PURPOSE}/{request.hook}/{request.mechanism[:12]}"


def request_messages(request: LlmRequest) -> list[dict[str, str]]:
    """What the model is sent: the engine's system message quoting the mechanism's own instructions,
    and its prompt fenced as data."""
    instructions = (for_prompt("instructions", request.system, MAX_LLM_SYSTEM_CHARS) if request.system
                    else "(none)")
    return [{"role": "system", "content": render_prompt("mechanism_llm", instructions=instructions).strip()},
            {"role": "user", "content": for_prompt("request", request.prompt, MAX_LLM_PROMPT_CHARS)}]


def offline_answer(prompt: str, max_tokens: int) -> str:
    """The deterministic stand-in's answer (see the module's docstring)."""
    text = stand_in_answer(prompt, max_tokens)
    for _ in range(MAX_PLAIN_EDITS):
        edit = operators.plain_words(text)
        if edit is None or edit.text == text:
            break
        text = edit.text
    split = operators.split_long_sentence(text, SPLIT_WORDS)
    return split.text if split is not None else text


class MechanismModel:
    """The engine's answer to ctx.llm: the run's client, or the offline stand-in without one."""

    def __init__(self, client: LLMClient | None) -> None:
        self.client = client

    def answer(self, request: LlmRequest) -> ModelAnswer:
        purpose = purpose_of(request)
        if self.client is None:
            text = offline_answer(request.prompt, request.max_tokens)
            return ModelAnswer(text, "offline", purpose, estimate_tokens(request.prompt), estimate_tokens(text), 0.0)
        entry, origin = self.client.exchange(request_messages(request), purpose, max_tokens=request.max_tokens)
        return ModelAnswer(entry.response, origin, purpose, entry.usage.prompt_tokens, entry.usage.completion_tokens,
                           entry.cost_usd)
