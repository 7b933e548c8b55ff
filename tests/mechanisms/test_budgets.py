"""Budgets of a live mechanism (issue 15, item 4): its hooks' time per iteration and over the run, and the
bytes one call may return; past them it is rolled back with the reason. No Docker: the unconfined host
runs the same worker protocol and decoding (the container cases are test_live_budgets.py)."""

from __future__ import annotations

import json
import math
import os
import time
from pathlib import Path

import pytest

from bilevel_evolve.domains.registry import load_domain
from bilevel_evolve.engine.agents.offline import OfflineAgent
from bilevel_evolve.engine.mechanisms.budget import KEEP_STEPS, HookBudget, HookClock
from bilevel_evolve.engine.mechanisms.model import MechanismModel, ModelAnswer
from bilevel_evolve.engine.run.events import MechanismAskedModel, MechanismRolledBack
from bilevel_evolve.engine.run.loop import InnerLoop
from bilevel_evolve.engine.run.store import RunStore
from bilevel_evolve.engine.wiring.run_config import RunConfig
from bilevel_evolve.engine.wiring.run_options import RUN_OPTIONS
from bilevel_evolve.ground.contract.source import MechanismSource
from bilevel_evolve.sandbox.hosts.base import HookFailure, LocalProcessHost
from bilevel_evolve.sandbox.hosts.llm_bridge import LlmRequest

from .conftest import COUNTER, ctx_json


def test_the_clock_adds_up_each_step_and_says_which_budget_was_passed() -> None:
    clock = HookClock(HookBudget(step_s=1.0, run_s=2.5))
    assert clock.spend("m", 3, 0.6, run_total_s=0.6) is None
    assert clock.spend("other", 3, 0.9, run_total_s=0.9) is None  # each mechanism has its own
    over = clock.spend("m", 3, 0.6, run_total_s=1.2)
    assert over is not None and over.endswith("the budget is 1 s per iteration (--mechanism-step-budget)")
    assert clock.spend("m", 4, 0.6, run_total_s=1.8) is None  # a new step starts from nothing
    over = clock.spend("m", 5, 0.9, run_total_s=2.7)
    assert over == "its hooks took 2.7 s in this run; the budget is 2.5 s (--mechanism-run-budget)"
    clock.forget("m")
    assert clock.spend("m", 5, 0.5, run_total_s=0.5) is None


def test_the_clock_keeps_a_bounded_number_of_steps() -> None:
    clock = HookClock(HookBudget())
    for step in range(KEEP_STEPS + 50):
        clock.spend("m", step, 0.001, run_total_s=0.0)
    assert clock.spend("m", KEEP_STEPS + 49, 0.001, run_total_s=0.0) is None
    assert len(clock._by_step["m"]) == KEEP_STEPS


def test_budgets_are_run_options_with_a_run_budget_that_follows_the_iterations() -> None:
    config = RunConfig(run_id="r", domain="function:branin", iterations=40)
    assert HookBudget.of(config) == HookBudget(step_s=5.0, run_s=40.0)
    assert HookBudget.of(config.model_copy(update={"iterations": 2})).run_s == 5.0  # at least one iteration's
    values = {o.name: o.default_value() for o in RUN_OPTIONS.options}
    values |= {"domain": "function:branin", "mechanism_step_budget": 0.5, "mechanism_run_budget": 9.0,
               "mechanism_return_bytes": 4096}
    given = RUN_OPTIONS.run_config(values, run_id="r")
    assert given.mechanism_step_budget_s == 0.5 and given.mechanism_run_budget_s == 9.0
    assert given.mechanism_return_bytes == 4096
    assert HookBudget.of(given) == HookBudget(step_s=0.5, run_s=9.0)
    assert HookBudget().run_s == math.inf


SLOW = MechanismSource(b"""
import time

class Slow:
    name = "slow"

    def guide(self, ctx):
        if ctx.iteration >= 3:
            time.sleep(0.3)
        return None

    def observe(self, trial, ctx):
        if ctx.iteration >= 3:
            time.sleep(0.3)
        return None

MECHANISM = Slow
""")


def test_a_mechanism_over_its_iteration_budget_is_rolled_back_and_the_run_goes_on(tmp_path: Path) -> None:
    config = RunConfig(run_id="budget", domain="function:branin", iterations=6, seed=1, mechanism_step_budget_s=0.5)
    store = RunStore.create(tmp_path / "run", config)
    host = LocalProcessHost(tmp_path / "host")
    try:
        loop = InnerLoop(store, config, load_domain(config.domain), OfflineAgent(), mechanism_host=host)
        assert loop.mechanisms is not None
        loop.mechanisms.add("slow", SLOW, step=0)
        loop.mechanisms.add("counter", COUNTER, step=0)
        loop.start()
        outcome = loop.run()
        rolled = [e for e in store.events() if isinstance(e, MechanismRolledBack)]
        assert outcome.status == "completed" and loop.mechanisms.ids() == ("counter",)
    finally:
        host.close()
        store.close()
    assert [(e.mechanism, e.iteration) for e in rolled] == [("slow", 3)]
    assert rolled[0].reason.startswith("hook observe over-budget: its hooks took ")
    assert rolled[0].reason.endswith("the budget is 0.5 s per iteration (--mechanism-step-budget)")


HOARDER = MechanismSource(b"""
class Hoarder:
    name = "hoarder"

    def review(self, proposal, ctx):
        return {"reject": "x" * 2000}

MECHANISM = Hoarder
""")


def test_a_hook_that_returns_more_than_the_byte_budget_is_over_budget(tmp_path: Path) -> None:
    host = LocalProcessHost(tmp_path, max_return_bytes=1024)
    try:
        host.load("hoarder", HOARDER, None)
        with pytest.raises(HookFailure) as failure:
            host.call("hoarder", "review", ctx_json(), 1, {"proposal": {"x": 0.0, "lr": 0.01, "act": "relu"}})
    finally:
        host.close()
    assert failure.value.kind == "over-budget"
    assert failure.value.reason == ("returned 2,014 bytes of JSON; a hook may return at most 1,024 "
                                    "(--mechanism-return-bytes)")


def test_the_unconfined_host_takes_a_relative_work_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    host = LocalProcessHost(Path("run") / "mechanism_host")  # as `--run-dir run --mechanism-runtime host` makes it
    try:
        host.load("counter", COUNTER, None)
        assert json.loads(host.state_json("counter")) == {"seen": 0}
    finally:
        host.close()
    assert os.path.isdir(tmp_path / "run" / "mechanism_host")


ASKER = MechanismSource(b"""
class Asker:
    name = "asker"

    def guide(self, ctx):
        return {"note": ctx.llm("a question\\n\\nabout the search", max_tokens=16)}

MECHANISM = Asker
""")


class SlowModel(MechanismModel):
    """The offline stand-in, answering after longer than the iteration budget."""

    def answer(self, request: LlmRequest) -> ModelAnswer:
        time.sleep(0.8)
        return super().answer(request)


def test_the_time_ctx_llm_waits_for_the_model_is_not_the_mechanisms(tmp_path: Path) -> None:
    config = RunConfig(run_id="asking", domain="function:branin", iterations=3, seed=1, mechanism_step_budget_s=0.5)
    store = RunStore.create(tmp_path / "run", config)
    host = LocalProcessHost(tmp_path / "host")
    try:
        loop = InnerLoop(store, config, load_domain(config.domain), OfflineAgent(), mechanism_host=host,
                         mechanism_model=SlowModel(None))
        assert loop.mechanisms is not None
        loop.mechanisms.add("asker", ASKER, step=0)
        loop.mechanisms.add("slow", SLOW, step=0)
        loop.start()
        assert loop.run().status == "completed"
        events = store.events()
        asker = loop.mechanisms.active[0]
    finally:
        host.close()
        store.close()
    assert [(e.mechanism, e.iteration) for e in events if isinstance(e, MechanismRolledBack)] == [("slow", 3)]
    asked = [e for e in events if isinstance(e, MechanismAskedModel)]
    assert [(e.mechanism, e.hook, e.iteration) for e in asked] == [("asker", "guide", i) for i in (1, 2, 3)]
    assert all(e.wait_ms >= 800 for e in asked)
    assert asker.id == "asker" and asker.stats["guide"].llm_calls == 3
    assert asker.stats["guide"].ms < 3 * 800  # its own time: the model's left out
