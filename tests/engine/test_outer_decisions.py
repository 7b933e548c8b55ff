"""Outer controllers read the loop through a LoopView and act only through the decisions they
return: the loop applies each as it comes, traces it, and tells the controller when its injection
could not be loaded."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from quadratic_domain import QuadraticDomain

from bilevel_evolve.engine.agents.offline import OfflineAgent
from bilevel_evolve.engine.outer.base import OuterController
from bilevel_evolve.engine.outer.decisions import ChangeConfig, Decision, Decisions, Inject, Record, Reject, Rollback
from bilevel_evolve.engine.outer.view import LoopView
from bilevel_evolve.engine.run.events import EffectMeasured
from bilevel_evolve.engine.run.loop import InnerLoop
from bilevel_evolve.engine.run.store import RunStore
from bilevel_evolve.engine.wiring.run_config import RunConfig
from bilevel_evolve.ground.contract.source import MechanismSource
from bilevel_evolve.ground.records import SearchConfig
from bilevel_evolve.sandbox.hosts.base import HookFailure, LocalProcessHost

QUIET = b'''
class Quiet:
    name = "quiet"

    def observe(self, trial, ctx):
        return None

MECHANISM = Quiet
'''
BROKEN = b"raise RuntimeError('this one does not import')\n"
EXPLORE = SearchConfig(strategy="explore")
ACTS_AT = 2  # the iteration the scripted controller acts in


class Scripted(OuterController):
    name = "scripted"

    def __init__(self) -> None:
        self.asked_at: list[int] = []
        self.seen: list[object] = []  # what the view showed right after each decision
        self.failed_loads: list[tuple[str, str]] = []

    def before_step(self, view: LoopView) -> Iterator[Decision]:
        self.asked_at.append(view.step)
        if view.iteration != ACTS_AT:
            return
        yield ChangeConfig(EXPLORE, reason="scripted", source="test")
        self.seen.append(view.search_config)
        if not view.runs_mechanisms:
            return
        yield Inject("quiet", "quiet", MechanismSource(QUIET))
        self.seen.append(tuple(m.id for m in view.mechanisms))
        yield Inject("broken", "broken", MechanismSource(BROKEN))
        self.seen.append(tuple(m.id for m in view.mechanisms))
        yield Record(EffectMeasured(step=view.step, iteration=view.iteration, mechanism="quiet", effect={}))
        yield Rollback("quiet", "scripted rollback")
        self.seen.append(tuple(m.id for m in view.mechanisms))

    def on_inject_failed(self, view: LoopView, inject: Inject, failure: HookFailure) -> Decisions:
        self.failed_loads.append((inject.mechanism, failure.hook))
        return (Reject(inject.mechanism, inject.name, "rolled-back", "could not be loaded"),)


def _config() -> RunConfig:
    return RunConfig(run_id="t", domain="test", iterations=4, seed=3)


def test_decisions_are_applied_in_order_each_before_the_next_is_asked_for(tmp_path: Path) -> None:
    config = _config()
    store = RunStore.create(tmp_path / "run", config)
    host = LocalProcessHost(tmp_path / "host")
    controller = Scripted()
    try:
        loop = InnerLoop(store, config, QuadraticDomain(), OfflineAgent(), mechanism_host=host, outer=[controller])
        loop.start()
        loop.run()
    finally:
        host.close()
    acted = [e for e in store.events() if getattr(e, "iteration", None) == ACTS_AT
             and e.kind not in ("proposal", "trial", "decision", "hook")]
    assert [(e.kind, getattr(e, "mechanism", None)) for e in acted] == [
        ("config_changed", None), ("injection", "quiet"), ("rollback", "broken"), ("effect", "quiet"),
        ("rollback", "quiet")]
    assert acted[0].before == SearchConfig() and acted[0].after == EXPLORE and acted[0].source == "test"
    assert [e.active for e in acted[1:3]] == [("quiet",), ("quiet",)] and acted[4].active == ()
    assert acted[4].name == "quiet" and acted[4].status == "rolled-back"
    assert controller.seen == [EXPLORE, ("quiet",), ("quiet",), ()]
    assert controller.failed_loads == [("broken", "import")]
    assert loop.state.search_config == EXPLORE


def test_the_view_has_no_setters(tmp_path: Path) -> None:
    config = _config()
    loop = InnerLoop(RunStore.create(tmp_path / "run", config), config, QuadraticDomain(), OfflineAgent())
    view = LoopView(loop, 0, 0)
    for name in ("search_config", "history", "best", "noise_floor", "mechanisms", "step", "config"):
        with pytest.raises(AttributeError):
            setattr(view, name, None)
    assert view.history == () and not view.runs_mechanisms and view.mechanisms == ()


class _Interrupt(Exception):
    pass


class _DiesOnCall(QuadraticDomain):
    def __init__(self, call: int) -> None:
        super().__init__()
        self.call = call

    def run_trial(self, params, trial_dir, seed):  # type: ignore[no-untyped-def]
        if self.calls + 1 == self.call:
            raise _Interrupt
        return super().run_trial(params, trial_dir, seed)


def test_a_step_whose_controller_acted_is_not_asked_again_after_a_crash(tmp_path: Path) -> None:
    config = _config()
    store = RunStore.create(tmp_path / "run", config)
    first = Scripted()
    loop = InnerLoop(store, config, _DiesOnCall(config.baseline_steps + ACTS_AT), OfflineAgent(), outer=[first])
    loop.start()
    with pytest.raises(_Interrupt):  # dies in the trial of the step the controller acted before
        loop.run()
    acting_step = config.baseline_steps + ACTS_AT - 1
    assert first.asked_at[-1] == acting_step and first.seen == [EXPLORE]

    store = RunStore.open(tmp_path / "run")
    second = Scripted()
    loop = InnerLoop(store, config, QuadraticDomain(), OfflineAgent(), outer=[second])
    loop.resume()
    loop.run()
    assert second.asked_at == list(range(acting_step + 1, config.total_steps))
    assert [e.kind for e in store.events()].count("config_changed") == 1
    assert loop.state.search_config == EXPLORE
