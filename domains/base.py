"""The contract every domain fulfils: a search space and one trial at a time."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Protocol, runtime_checkable

from bilevel_evolve.domains.brief import TaskBrief
from bilevel_evolve.ground.records import Direction, TrialResult
from bilevel_evolve.ground.space import Scalar, SearchSpace


@runtime_checkable
class Domain(Protocol):
    """A task to optimize.

    run_trial must never raise for a bad trial: a crash, a timeout or a missing metric is a
    TrialResult with the matching status. It raises only for errors of the set-up itself.
    trial_dir is a fresh, empty directory the trial may write to (logs, edited copies).
    seed is the trial's own seed: subprocess domains pass it on as EVOLVE_SEED (train_opt also
    as SEED; see domains.process.trial_env), the function domain uses it only for optional
    noise. Domains are loaded with domains.registry.load_domain(spec, DomainOptions) and hold
    no per-trial state, so run_trial may be called from several threads at once.
    """

    name: str
    space: SearchSpace
    direction: Direction

    def run_trial(self, params: dict[str, Scalar], trial_dir: Path, seed: int) -> TrialResult: ...

    def describe(self) -> dict[str, Any]:
        """JSON-serializable description stored in the run's config.json."""
        ...

    def brief(self) -> TaskBrief:
        """What a language model is told about the task (the offline agent never reads it). It must not
        give away a benchmark's answer: a built-in objective's source and docstring stay out of it."""
        ...
