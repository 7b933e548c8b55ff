"""The baselines as ordinary Level 1 proposers (`--agent random`, `--agent optuna`).

Both are pure functions of (run seed, history): the proposal at an iteration is the same whether
the run went straight through or was killed and resumed, so their state_dicts are empty. The
budget is the loop's (baseline trial + N iterations), the space the domain's, exactly as for
the groups.
"""

from __future__ import annotations

import hashlib
import importlib
import random
import warnings
from dataclasses import replace
from typing import Any

from bilevel_evolve.engine.ablation.spec import BASELINES_EXTRA_FIX
from bilevel_evolve.ground.errors import UsageError
from bilevel_evolve.ground.records import Proposal, SearchContext
from bilevel_evolve.ground.space import ChoiceParam, FloatParam, IntParam, SearchSpace


def _derived_seed(seed: int, iteration: int, salt: str) -> int:
    digest = hashlib.sha256(f"{salt}:{seed}:{iteration}".encode()).digest()
    return int.from_bytes(digest[:4], "big")


class RandomSearchAgent:
    """Uniform random search (log-uniform on log-scaled parameters, uniform over choices)."""

    name = "random"

    def __init__(self, seed: int) -> None:
        self.seed = seed

    def propose(self, ctx: SearchContext) -> Proposal:
        rng = random.Random(_derived_seed(self.seed, ctx.iteration, "random"))
        return Proposal(params=ctx.space.sample(rng), source=self.name, rationale="uniform random sample")

    def propose_batch(self, ctx: SearchContext, n: int) -> list[Proposal]:
        """The samples of iterations ctx.iteration .. + n - 1: what n sequential proposals would be."""
        return [self.propose(replace(ctx, iteration=ctx.iteration + i)) for i in range(n)]

    def state_dict(self) -> dict[str, Any]:
        return {}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        return None


class OptunaTPEAgent:
    """Optuna's TPE sampler (its defaults: 10 random start-up trials, then TPE), told every
    evaluated trial of the run. The study is rebuilt from the history at each proposal with a
    TPESampler seeded from (run seed, iteration): TPE keeps no state beyond its random generator,
    so this is TPE as an uninterrupted study would run it, and a resumed run draws the same."""

    name = "optuna"

    def __init__(self, seed: int) -> None:
        self.seed = seed
        self._optuna = import_optuna()
        self._optuna.logging.set_verbosity(self._optuna.logging.WARNING)

    def propose(self, ctx: SearchContext) -> Proposal:
        return self.propose_batch(ctx, 1)[0]

    def propose_batch(self, ctx: SearchContext, n: int) -> list[Proposal]:
        """Ask/tell: the study is told the history, holds the trials in flight as running ones, and is
        asked n times; with trials running, TPE's constant liar keeps the asks apart."""
        optuna = self._optuna
        distributions = _distributions(optuna, ctx.space)
        liar = bool(ctx.pending) or n > 1
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # constant_liar is marked experimental
            sampler = optuna.samplers.TPESampler(seed=_derived_seed(self.seed, ctx.iteration, "optuna"),
                                                 **({"constant_liar": True} if liar else {}))
            study = optuna.create_study(direction=ctx.direction, sampler=sampler)
            trial_state = optuna.trial.TrialState
            for record in ctx.history:
                if record.status == "ok" and record.value is not None and record.params:
                    study.add_trial(optuna.trial.create_trial(params=dict(record.params),
                                                              distributions=distributions, value=record.value))
                elif record.params:
                    study.add_trial(optuna.trial.create_trial(params=dict(record.params),
                                                              distributions=distributions, state=trial_state.FAIL))
            for pending in ctx.pending:
                study.add_trial(optuna.trial.create_trial(params=dict(pending.params), distributions=distributions,
                                                          state=trial_state.RUNNING))
            asked = [study.ask(distributions) for _ in range(n)]
        done = sum(1 for r in ctx.history if r.status == "ok")
        return [Proposal(params=dict(trial.params), source=self.name,
                         rationale=f"optuna TPE after {done} evaluated trials") for trial in asked]

    def state_dict(self) -> dict[str, Any]:
        return {}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        return None


def _distributions(optuna: Any, space: SearchSpace) -> dict[str, Any]:
    dist = optuna.distributions
    out: dict[str, Any] = {}
    for name, p in space.params.items():
        if isinstance(p, FloatParam):
            out[name] = dist.FloatDistribution(p.low, p.high, log=p.log)
        elif isinstance(p, IntParam):
            out[name] = dist.IntDistribution(p.low, p.high, log=p.log)
        elif isinstance(p, ChoiceParam):
            out[name] = dist.CategoricalDistribution(list(p.choices))
    return out


def import_optuna() -> Any:
    try:
        return importlib.import_module("optuna")
    except ImportError:
        raise UsageError("the optuna baseline needs the optuna library, which is not installed",
                         BASELINES_EXTRA_FIX) from None


def build_baseline_agent(kind: str, seed: int) -> RandomSearchAgent | OptunaTPEAgent:
    if kind == "random":
        return RandomSearchAgent(seed)
    if kind == "optuna":
        return OptunaTPEAgent(seed)
    raise UsageError(f"unknown baseline agent {kind!r}", "use --agent random or --agent optuna")
