"""`--level2-trigger need`: a research session when the trace shows one is needed, not on a fixed period.

Checked before every step, at least GAP = max(2, M // 2) iterations after the previous session (M is
--level2-every) and from iteration GAP on, so that a session has a few trials to read. It is needed when

- stagnation: no kept trial in the last GAP iterations;
- repetition: at least REPEATING of the last GAP proposals repeated an earlier point;
- a mechanism stopped paying: an active mechanism whose measured effect in this run was neutral (a worse
  one is rolled back already), or that has been live GAP iterations without changing a decision; each
  mechanism calls for one session so, not one every GAP iterations while it stays.

The default trigger (`every`) calls a session every M iterations, as before.

With either trigger the first session comes at the first iteration when the space alone calls for a model
(`opening_need`): a free choice, or an int of few values. The proposer's moves of one parameter at a time
barely explore such a space, and a model that needs no encoding of its options (a density model: TPE)
searches it from the first trial, so waiting M iterations for the first session spends them on a history
no model learns from. A space of numbers keeps its first session at M: a regression needs those M trials
before it proposes anything.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from bilevel_evolve.engine.analysis.diagnosis import diagnose
from bilevel_evolve.ground.space import coarse

if TYPE_CHECKING:
    from bilevel_evolve.engine.outer.view import MechanismView
    from bilevel_evolve.ground.records import Direction, TrialRecord
    from bilevel_evolve.ground.space import SearchSpace

REPEATING = 0.25


def gap(every: int) -> int:
    return max(2, every // 2)


@dataclass(frozen=True)
class Need:
    reason: str  # one line, for the trace
    mechanism: str | None = None  # the mechanism that stopped paying, if that is the reason


def opening_need(space: SearchSpace, frozen: Collection[str]) -> Need | None:
    """Why the first session is needed at the first iteration (the module says when), or None."""
    names = [name for name, spec in space.params.items() if name not in frozen and coarse(spec)]
    if not names:
        return None
    shown = ", ".join(names[:4]) + (f" and {len(names) - 4} more" if len(names) > 4 else "")
    return Need(f"the space has choices or ints of few values ({shown}): a model can search it from the first trial")


def session_need(history: Sequence[TrialRecord], space: SearchSpace, direction: Direction, *, iteration: int,
                 every: int, last_session: int, mechanisms: Sequence[MechanismView], injected_at: Mapping[str, int],
                 verdicts: Mapping[str, str], answered: Collection[str]) -> Need | None:
    """Why a session is needed now, or None. Per mechanism id: `injected_at` the iteration it went live at
    (absent: from the start), `verdicts` its measured effect's verdict in this run, `answered` whether a
    session was already called because it stopped paying."""
    wait = gap(every)
    if iteration < wait or iteration - last_session < wait:
        return None
    diagnosis = diagnose(history, space, direction, wait)
    if diagnosis.stagnation >= wait:
        return Need(f"stagnation: no kept trial in the last {diagnosis.stagnation} iterations")
    if diagnosis.repetition_rate >= REPEATING:
        return Need(f"repetition: {diagnosis.repetition_rate:.0%} of the last {wait} proposals repeated earlier points")
    for mech in mechanisms:
        if mech.id in answered:
            continue
        if verdicts.get(mech.id) == "neutral":
            return Need(f"{mech.name} stopped paying: its measured effect was neutral", mech.id)
        live = iteration - injected_at.get(mech.id, 0)
        if live >= wait and mech.calls and not mech.changed_decisions:
            return Need(f"{mech.name} stopped paying: {live} iterations live, no decision changed", mech.id)
    return None
