"""The recipes that model the objective (the surrogate, the Parzen estimator, the scikit-learn GP): each
fits what the history says and proposes where the model rates well, and stays silent without enough history."""

from __future__ import annotations

import importlib.util
import math
import random
import statistics

import numpy as np
import pytest
from recipe_driver import (
    SPACE,
    MiniLoop,
    load_recipe,
    make_ctx,
    new_mechanism,
    objective,
    record,
    unit_distance,
    walk_history,
)

from bilevel_evolve.engine.outer.research.recipes import get_recipe

# ---- surrogate -------------------------------------------------------------------------------

def test_surrogate_stays_silent_with_too_little_history() -> None:
    mech = new_mechanism(get_recipe("surrogate"))
    assert mech.propose(make_ctx(walk_history(5), hook="propose")) is None


def test_surrogate_proposes_a_new_point_the_model_rates_well() -> None:
    history = walk_history(3)
    for i in range(20):
        point = SPACE.sample(random.Random(i))
        history.append(record(len(history), point, objective(point), False))
    mech = new_mechanism(get_recipe("surrogate"))
    proposal = mech.propose(make_ctx(history, hook="propose"))
    values = [t.value for t in history]
    assert objective(proposal) < statistics.median(values)
    assert min(unit_distance(proposal, t.params) for t in history) > 0.02


def test_surrogate_fits_the_order_of_values_that_span_orders_of_magnitude() -> None:
    """Where a few huge values dominate (here exp of the bowl), leave-one-out picks the fit of the ranks,
    and then no monotone transform changes a proposal; a fit of the raw values would follow the largest."""
    module = load_recipe(get_recipe("surrogate"))
    history = walk_history(3)
    for i in range(20):
        point = SPACE.sample(random.Random(i))
        history.append(record(len(history), point, objective(point), False))

    def stretched(k: float) -> list:
        return [record(t.iteration, t.params, math.exp(k * t.value), t.accepted) for t in history]

    mech = module.MECHANISM()
    x, costs = mech.data(make_ctx(stretched(1.0), hook="propose"))
    standard = [(y - y.mean()) / y.std() for y in (costs, module.copula(costs))]
    assert mech.fit(x, standard[1])[3] < mech.fit(x, standard[0])[3]
    steep = module.MECHANISM().propose(make_ctx(stretched(1.0), hook="propose"))
    steeper = module.MECHANISM().propose(make_ctx(stretched(2.0), hook="propose"))
    assert steep == steeper
    ranks = module.copula(np.array([5.0, 1.0, 1.0, 1e9]))
    assert ranks[1] == ranks[2] < ranks[0] < ranks[3]  # ties share a rank; the huge value is just the last
    assert abs(module.copula(np.array([3.0, 1e9, -2.0])).sum()) < 1e-9  # symmetric quantiles without ties


def test_surrogate_trust_region_grows_after_successes_and_shrinks_after_failures() -> None:
    module = load_recipe(get_recipe("surrogate"))
    start = [10.0 - i for i in range(module.MIN_TRIALS)]  # before MIN_TRIALS nothing counts
    assert module.trust_radius(np.array(start)) == module.LOCAL_SIGMA
    wins = start + [0.0 - i for i in range(module.SUCCESS_STREAK)]  # new bests in a row
    assert module.trust_radius(np.array(wins)) == 2 * module.LOCAL_SIGMA
    losses = start + [50.0] * module.FAILURE_STREAK  # trials in a row without a new best
    assert module.trust_radius(np.array(losses)) == module.LOCAL_SIGMA / 2
    assert module.trust_radius(np.array(losses[:-1])) == module.LOCAL_SIGMA  # one short of the streak
    collapsed = start + [50.0] * module.FAILURE_STREAK * 4  # halved under RADIUS_MIN: back to the start
    assert module.trust_radius(np.array(collapsed[:-module.FAILURE_STREAK])) < 2 * module.RADIUS_MIN
    assert module.trust_radius(np.array(collapsed)) == module.LOCAL_SIGMA
    grown = start + [0.0 - i for i in range(module.SUCCESS_STREAK * 10)]
    assert module.trust_radius(np.array(grown)) == module.RADIUS_MAX


def test_surrogate_finds_most_of_the_gain_the_prior_never_reaches() -> None:
    alone = min(e["value"] for e in MiniLoop(None, seed=1).run(40))
    with_model = min(e["value"] for e in MiniLoop(new_mechanism(get_recipe("surrogate")), seed=1).run(40))
    assert with_model < 0.2 * alone


# ---- parzen estimator -------------------------------------------------------------------------

def test_parzen_starts_from_its_first_call_and_then_waits_for_enough_history() -> None:
    module = load_recipe(get_recipe("parzen"))
    baseline = [record(0, SPACE.defaults(), 5.0, True)]
    proposal = module.MECHANISM().propose(make_ctx(baseline, hook="propose"))
    assert proposal is not None and unit_distance(proposal, SPACE.defaults()) > 0.05  # a point anywhere
    first = baseline[0].params
    far = [{n: SPACE.from_unit(n, (SPACE.to_unit(n, first[n]) + 0.4 + 0.05 * i) % 1.0) for n in SPACE.names}
           for i in range(module.SPREAD)]
    spread = baseline + [record(1 + i, point, 5.0, False) for i, point in enumerate(far)]
    assert len(spread) < module.MIN_TRIALS  # the random start is over, too few trials for the densities
    assert module.MECHANISM().propose(make_ctx(spread, hook="propose")) is None


def test_parzen_proposes_the_option_and_the_numbers_of_the_good_trials() -> None:
    """Only `act` and `x` matter, and the good quarter all ran `gelu` with x near 0.65 of its range: the
    density ratio favours both (a proposer that ignored the history would hit each a third of the time)."""
    history = []
    for i in range(24):
        point = SPACE.sample(random.Random(100 + i))
        value = (SPACE.to_unit("x", point["x"]) - 0.65) ** 2 + (0.0 if point["act"] == "gelu" else 5.0)
        history.append(record(i, point, value, False))
    mech = new_mechanism(get_recipe("parzen"))
    proposals = [mech.propose(make_ctx(history, seed=seed, hook="propose")) for seed in range(30)]
    assert sum(p["act"] == "gelu" for p in proposals) >= 24
    assert sum(abs(SPACE.to_unit("x", p["x"]) - 0.65) < 0.15 for p in proposals) >= 21


def test_parzen_starts_with_points_anywhere_while_the_history_is_local_moves() -> None:
    module = load_recipe(get_recipe("parzen"))
    local = walk_history(8)  # each trial moves one of three parameters
    mech = module.MECHANISM()
    assert mech.spread(make_ctx(local, hook="propose")) == 0
    first = local[0].params
    for seed in range(5):
        proposal = mech.propose(make_ctx(local, seed=seed, hook="propose"))
        moved = sum(abs(SPACE.to_unit(n, proposal[n]) - SPACE.to_unit(n, first[n])) > 0.05 for n in SPACE.names)
        assert moved > len(SPACE.names) / 2, proposal
    far = [{n: SPACE.from_unit(n, (SPACE.to_unit(n, first[n]) + 0.4 + 0.05 * i) % 1.0) for n in SPACE.names}
           for i in range(module.SPREAD)]  # each differs from the first trial in every parameter
    spread = local + [record(8 + i, point, 5.0, False) for i, point in enumerate(far)]
    assert mech.spread(make_ctx(spread[:-1], hook="propose")) == module.SPREAD - 1
    assert mech.spread(make_ctx(spread, hook="propose")) == module.SPREAD


def test_parzen_never_proposes_a_tried_or_pending_point() -> None:
    from bilevel_evolve.ground.records import PendingTrial

    history = [record(i, SPACE.defaults(), 1.0 + i, i == 0) for i in range(8)]  # one point, measured 8 times
    pending = (PendingTrial(iteration=8, params=SPACE.defaults()),)
    mech = new_mechanism(get_recipe("parzen"))
    proposal = mech.propose(make_ctx(history, hook="propose", pending=pending))
    assert proposal is None or unit_distance(proposal, SPACE.defaults()) > 1e-3


def test_parzen_counts_a_failed_trial_among_the_others() -> None:
    module = load_recipe(get_recipe("parzen"))
    history = [*walk_history(8), record(8, SPACE.defaults(), None, False, status="crashed")]
    good, other = module.MECHANISM().split(make_ctx(history, hook="propose"))
    assert len(good) == 2 and history[-1].status in {t.status for t in other} and len(good) + len(other) == 9


@pytest.mark.parametrize("noise", [0.0, 0.5])
def test_parzen_finds_most_of_the_gain_the_prior_never_reaches(noise: float) -> None:
    alone = min(e["value"] for e in MiniLoop(None, seed=1, noise=noise).run(40))
    with_model = min(e["value"] for e in MiniLoop(new_mechanism(get_recipe("parzen")), seed=1, noise=noise).run(40))
    assert with_model < 0.3 * alone


# ---- gp_sklearn ------------------------------------------------------------------------------

@pytest.mark.skipif(importlib.util.find_spec("sklearn") is not None, reason="scikit-learn is installed here")
def test_gp_sklearn_cannot_even_load_without_scikit_learn() -> None:
    with pytest.raises(ModuleNotFoundError) as caught:
        load_recipe(get_recipe("gp_sklearn"))
    assert caught.value.name == "sklearn"


@pytest.mark.skipif(importlib.util.find_spec("sklearn") is None, reason="scikit-learn is not installed here")
def test_gp_sklearn_would_work_where_scikit_learn_exists() -> None:
    alone = min(e["value"] for e in MiniLoop(None, seed=1).run(30))
    with_gp = min(e["value"] for e in MiniLoop(new_mechanism(get_recipe("gp_sklearn")), seed=1).run(30))
    assert with_gp < 0.2 * alone
