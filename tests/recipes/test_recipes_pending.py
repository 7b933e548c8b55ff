"""With several workers, recipes see the proposals in flight (ctx.pending) and avoid repeating them."""

from __future__ import annotations

from recipe_driver import SPACE, as_trial, make_ctx, new_mechanism, record

from bilevel_evolve.engine.outer.research.recipes import get_recipe
from bilevel_evolve.ground.records import PendingTrial


def _history() -> list:
    params = SPACE.defaults()
    return [record(0, params, 5.0, accepted=True)]


def _moved(**change: object) -> dict:
    return {**SPACE.defaults(), **change}


def test_tabu_replaces_a_proposal_whose_trial_is_running_now() -> None:
    tabu = new_mechanism(get_recipe("tabu"))
    history = _history()
    proposal = _moved(x=SPACE.from_unit("x", 0.2))
    assert tabu.review(proposal, make_ctx(history, hook="review")) is None  # not tried: fine alone
    running = (PendingTrial(iteration=1, params=proposal),)
    answer = tabu.review(proposal, make_ctx(history, hook="review", pending=running))
    assert answer is not None and answer["replace"] != proposal
    point = tabu.point(answer["replace"], make_ctx(history))
    assert not tabu.is_tabu(point, [tabu.point(proposal, make_ctx(history))])


def test_the_bandit_skips_a_point_in_flight_and_credits_each_of_its_arms() -> None:
    bandit = new_mechanism(get_recipe("bandit"))
    history = _history()
    first = bandit.propose(make_ctx(history, hook="propose"))
    again = new_mechanism(get_recipe("bandit")).propose(make_ctx(history, hook="propose"))
    assert again == first  # the same state and seed: the same arm
    running = (PendingTrial(iteration=1, params=first),)
    second = bandit.propose(make_ctx(history, iteration=2, hook="propose", pending=running))
    assert second is not None and second != first
    for i, params in enumerate((first, second), 1):  # both decided, oldest first
        bandit.observe(as_trial(record(i, params, 4.0, accepted=True)), make_ctx(history))
    assert sum(bandit.state_dict()["pulls"].values()) == 2 and bandit.state_dict()["pending"] == []
