"""What an outer controller sees of the inner loop: read-only, current at every read."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING

from bilevel_evolve.ground.records import Direction, SearchConfig, TrialRecord
from bilevel_evolve.ground.space import SearchSpace

if TYPE_CHECKING:
    from bilevel_evolve.engine.mechanisms.active_set import ActiveMechanism
    from bilevel_evolve.engine.run.loop import InnerLoop
    from bilevel_evolve.engine.wiring.run_config import RunConfig


@dataclass(frozen=True)
class MechanismView:
    """One mechanism of the live set as it stood when read (a copy): its hook counts by hook name."""

    id: str
    name: str
    stats: Mapping[str, Mapping[str, float]]  # hook -> {"calls", "changed", "ms"}

    @classmethod
    def of(cls, mech: ActiveMechanism) -> MechanismView:
        return cls(mech.id, mech.name, {h: dict(vars(s)) for h, s in mech.stats.items()})

    @property
    def calls(self) -> int:
        return int(sum(s["calls"] for s in self.stats.values()))

    @property
    def changed_decisions(self) -> int:
        return int(sum(s["changed"] for s in self.stats.values()))


class LoopView:
    """The loop at one call of an outer controller. `step` and `iteration` say where: the step
    about to run (before_step), the step a hook failed in (on_rollback), or the steps and
    iterations done (on_finish). Everything else is read from the loop on each access, so a
    controller that yields decisions one at a time sees each applied before it makes the next."""

    def __init__(self, loop: InnerLoop, step: int, iteration: int) -> None:
        self._loop = loop
        self._step = step
        self._iteration = iteration

    @property
    def step(self) -> int:
        return self._step

    @property
    def iteration(self) -> int:
        return self._iteration

    @property
    def config(self) -> RunConfig:
        return self._loop.config

    @property
    def space(self) -> SearchSpace:
        return self._loop.domain.space

    @property
    def direction(self) -> Direction:
        return self._loop.domain.direction

    @property
    def steps_done(self) -> int:
        return self._loop.state.steps_done

    @property
    def history(self) -> tuple[TrialRecord, ...]:
        return tuple(self._loop.state.history)

    @property
    def best(self) -> TrialRecord | None:
        return self._loop.state.best

    @property
    def incumbent(self) -> TrialRecord | None:
        """The kept point the next proposal starts from (not always the best: see LoopState.best)."""
        return self._loop.state.incumbent

    @property
    def noise_floor(self) -> float:
        return self._loop.state.noise_floor

    @property
    def search_config(self) -> SearchConfig:
        return self._loop.state.search_config

    @property
    def runs_mechanisms(self) -> bool:
        """Whether this run has a mechanism host at all (only then can anything be injected)."""
        return self._loop.mechanisms is not None

    @property
    def mechanisms(self) -> tuple[MechanismView, ...]:
        """The live set, in archive order."""
        live = self._loop.mechanisms
        return () if live is None else tuple(MechanismView.of(m) for m in live.active)
