"""What a `ctx.llm` request may hold, checked in one place. Standard library only.

The mechanism's ctx checks a request before it leaves the worker (a clear exception in the mechanism's
own code), and the engine checks what arrives again (sandbox/hosts/replies.py: the worker runs mechanism
code, so whatever it sends is untrusted), with the same rules and the limits of interface.py.
"""

from __future__ import annotations

from typing import Any

from bilevel_evolve.ground.contract.interface import (
    MAX_LLM_ANSWER_CHARS,
    MAX_LLM_MAX_TOKENS,
    MAX_LLM_PROMPT_CHARS,
    MAX_LLM_SYSTEM_CHARS,
)

REQUEST_KEYS = frozenset({"prompt", "system", "max_tokens"})


def request_problems(prompt: Any, system: Any, max_tokens: Any) -> list[str]:
    """Why (prompt, system, max_tokens) is not a request ctx.llm may make; empty when it is one."""
    problems = []
    if not isinstance(prompt, str):
        problems.append(f"the prompt is a {type(prompt).__name__}, expected a str")
    elif not prompt.strip():
        problems.append("the prompt is empty")
    elif len(prompt) > MAX_LLM_PROMPT_CHARS:
        problems.append(f"the prompt holds {len(prompt):,} characters; at most {MAX_LLM_PROMPT_CHARS:,}")
    if system is not None and not isinstance(system, str):
        problems.append(f"system is a {type(system).__name__}, expected a str or None")
    elif system is not None and len(system) > MAX_LLM_SYSTEM_CHARS:
        problems.append(f"system holds {len(system):,} characters; at most {MAX_LLM_SYSTEM_CHARS:,}")
    if isinstance(max_tokens, bool) or not isinstance(max_tokens, int):
        problems.append(f"max_tokens is a {type(max_tokens).__name__}, expected an int")
    elif not 1 <= max_tokens <= MAX_LLM_MAX_TOKENS:
        problems.append(f"max_tokens is {max_tokens}; it must lie in 1..{MAX_LLM_MAX_TOKENS}")
    return problems


def request_shape_problems(request: Any) -> list[str]:
    """request_problems for a decoded request object ({"prompt", "system", "max_tokens"}, nothing else)."""
    if not isinstance(request, dict):
        return [f"the request is a {type(request).__name__}, expected a JSON object"]
    unknown = sorted(str(key)[:40] for key in request if key not in REQUEST_KEYS)
    if unknown:
        return [f"the request holds unknown keys {unknown}"]
    if "prompt" not in request or "max_tokens" not in request:
        return ["the request lacks its prompt or max_tokens"]
    return request_problems(request["prompt"], request.get("system"), request["max_tokens"])


def stand_in_answer(prompt: str, max_tokens: int) -> str:
    """The deterministic stand-in's answer, where no model answers (the smoke test; offline runs edit it
    further, engine/mechanisms/model.py): the prompt's text after its first blank line (the material a
    request asks about, below its instruction), or the whole prompt when it has none, cut to what
    max_tokens allows at four characters a token."""
    _, blank, body = prompt.partition("\n\n")
    text = body if blank and body.strip() else prompt
    return text[: min(4 * max_tokens, MAX_LLM_ANSWER_CHARS)]
