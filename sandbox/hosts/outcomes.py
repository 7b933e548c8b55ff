"""What a host call ends in: the loaded mechanism's description, or the failure that blames it."""

from __future__ import annotations

from dataclasses import dataclass

from bilevel_evolve.ground.untrusted import clean_text

MAX_REASON_CHARS = 2000


class HookFailure(Exception):
    """A mechanism broke its contract: it raised, stalled, died, answered garbage or went over a budget.

    The reason often quotes what the mechanism said or printed, so it is cleaned here, once, for
    every failure whoever raises it: one line, no control characters or lone surrogates, capped."""

    def __init__(self, mechanism: str, hook: str, kind: str, reason: str) -> None:
        reason = clean_text(reason, MAX_REASON_CHARS, one_line=True)
        super().__init__(f"{hook}: {reason}")
        self.mechanism, self.hook, self.kind, self.reason = mechanism, hook, kind, reason


@dataclass(frozen=True)
class Loaded:
    class_name: str
    name: str
    hooks: tuple[str, ...]
