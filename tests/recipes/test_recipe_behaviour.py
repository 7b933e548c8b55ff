"""Each search recipe changes decisions in the situation it targets (and stays out of the way elsewhere).
The recipes that model the objective have their own module, test_model_recipe_behaviour.py."""

from __future__ import annotations

import json
import random
import statistics
from collections import Counter

from recipe_driver import (
    SPACE,
    MiniLoop,
    as_trial,
    make_ctx,
    new_mechanism,
    objective,
    record,
    unit_distance,
    walk_history,
)

from bilevel_evolve.engine.outer.research.recipes import get_recipe

UNTOUCHED = ("act", "wd", "dropout")  # never varied by walk_history or by the offline prior


def repeats(log: list[dict]) -> int:
    keys = Counter(json.dumps(entry["params"], sort_keys=True) for entry in log)
    return sum(count - 1 for count in keys.values())


def varied(log: list[dict]) -> set[str]:
    return {name for name in SPACE.names if len({str(entry["params"][name]) for entry in log}) > 1}


def test_the_offline_prior_alone_repeats_itself_and_ignores_half_the_space() -> None:
    """The situation every recipe is measured against."""
    log = MiniLoop(None, seed=1).run(40)
    assert repeats(log) > 10
    assert varied(log) == {"x", "lr", "depth"}


# ---- tabu ------------------------------------------------------------------------------------

def test_tabu_replaces_an_exact_repeat_by_moving_a_parameter_the_history_never_varied() -> None:
    tabu = new_mechanism(get_recipe("tabu"))
    history = walk_history(10)
    ctx = make_ctx(history, seed=4, hook="review")
    repeat = dict(history[3].params)
    answer = tabu.review(repeat, ctx)
    assert answer is not None and set(answer) == {"replace"}
    replacement = answer["replace"]
    assert min(unit_distance(replacement, t.params) for t in history) > 0.03
    incumbent = ctx.incumbent.params
    changed = {n for n in SPACE.names if replacement[n] != incumbent[n]}
    assert changed and changed <= set(UNTOUCHED)


def test_tabu_passes_a_fresh_proposal_untouched() -> None:
    tabu = new_mechanism(get_recipe("tabu"))
    history = walk_history(10)
    fresh = dict(history[-1].params, dropout=0.05)
    assert tabu.review(fresh, make_ctx(history, hook="review")) is None


def test_tabu_remembers_observed_trials_even_when_history_is_not_shown() -> None:
    tabu = new_mechanism(get_recipe("tabu"))
    history = walk_history(4)
    for i, trial in enumerate(history):
        tabu.observe(as_trial(trial), make_ctx(history[:i]))
    assert tabu.review(dict(history[1].params), make_ctx([], incumbent=history[0], hook="review")) is not None


def test_tabu_removes_every_repeat_of_the_offline_prior_in_a_run() -> None:
    log = MiniLoop(new_mechanism(get_recipe("tabu")), seed=1).run(40)
    assert repeats(log) == 0
    assert any("review" in e and e["review"] is not None for e in log)


# ---- bandit ----------------------------------------------------------------------------------

def test_bandit_moves_the_incumbent_along_exactly_one_parameter() -> None:
    bandit = new_mechanism(get_recipe("bandit"))
    history = walk_history(6)
    ctx = make_ctx(history, hook="propose")
    proposal = bandit.propose(ctx)
    changed = [n for n in SPACE.names if proposal[n] != ctx.incumbent.params[n]]
    assert len(changed) == 1


def centred_history(steps: int) -> list:
    """Trials around the middle of the space, so no step runs into a bound; the first is the incumbent."""
    rng = random.Random(7)
    history = []
    for i in range(steps):
        params = {n: SPACE.from_unit(n, 0.5 + (0.04 * (rng.random() - 0.5) if i else 0.0)) for n in SPACE.names}
        history.append(record(i, params, objective(params), accepted=i == 0))
    return history


def test_bandit_pulls_an_arm_that_paid_off_again() -> None:
    bandit = new_mechanism(get_recipe("bandit"))
    history = centred_history(6)
    first = bandit.propose(make_ctx(history, hook="propose"))
    arm = bandit.state_dict()["pending"][-1]["arm"]
    incumbent = history[0]
    win = record(len(history), first, incumbent.value - 5.0, accepted=True)
    bandit.observe(as_trial(win), make_ctx(history, incumbent=incumbent))
    assert bandit.state_dict()["rewards"][arm] > 0
    bandit.propose(make_ctx([*history, win], hook="propose"))
    assert bandit.state_dict()["pending"][-1]["arm"] == arm


def test_bandit_does_not_credit_a_trial_it_did_not_propose() -> None:
    bandit = new_mechanism(get_recipe("bandit"))
    history = walk_history(6)
    bandit.propose(make_ctx(history, hook="propose"))
    other = record(len(history), SPACE.defaults(), 0.0, accepted=True)
    bandit.observe(as_trial(other), make_ctx(history))
    assert bandit.state_dict()["pulls"] == {}


def test_bandit_explores_every_dimension_in_a_run() -> None:
    log = MiniLoop(new_mechanism(get_recipe("bandit")), seed=1).run(40)
    assert varied(log) == set(SPACE.names)
    assert repeats(log) < repeats(MiniLoop(None, seed=1).run(40))


# ---- orthogonal ------------------------------------------------------------------------------

def test_orthogonal_guide_focuses_the_parameters_the_history_never_explored() -> None:
    guide = new_mechanism(get_recipe("orthogonal")).guide(make_ctx(walk_history(12), hook="guide"))
    assert set(guide["focus"]) == set(UNTOUCHED)
    assert not set(guide["avoid"]) & set(UNTOUCHED)
    assert "dropout" in guide["note"]


def test_orthogonal_proposes_a_design_point_on_odd_iterations_only() -> None:
    mech = new_mechanism(get_recipe("orthogonal"))
    history = walk_history(10)
    assert mech.propose(make_ctx(history, iteration=10, hook="propose")) is None
    ctx = make_ctx(history, iteration=11, hook="propose")
    point = mech.propose(ctx)
    changed = [n for n in SPACE.names if point[n] != ctx.incumbent.params[n]]
    assert len(changed) >= 4


def test_orthogonal_design_uses_each_stratum_of_a_parameter_exactly_once() -> None:
    mech = new_mechanism(get_recipe("orthogonal"))
    history = centred_history(10)  # incumbent in the middle: the design's neighbourhood fits inside
    points = [mech.propose(make_ctx(history, iteration=11 + 2 * k, hook="propose")) for k in range(6)]
    assert mech.state_dict()["designs"] == 1  # six points, one 6-point Latin hypercube
    for name in ("x", "lr", "wd", "dropout"):
        # stratum of each point within [centre - 0.25, centre + 0.25], cut into 6
        strata = sorted(int((SPACE.to_unit(name, p[name]) - 0.25) / 0.5 * 6) for p in points)
        assert strata == [0, 1, 2, 3, 4, 5], name
    assert {p["act"] for p in points} == {"relu", "gelu", "tanh"}


# ---- annealing -------------------------------------------------------------------------------

def _worse_trial(history: list, loss: float):
    incumbent = [t for t in history if t.accepted][-1]
    return incumbent, record(len(history), dict(incumbent.params, dropout=0.1), incumbent.value + loss, False)


def test_annealing_keeps_a_slightly_worse_trial_early_on() -> None:
    history = walk_history(10)
    values = [t.value for t in history]
    spread = max(values) - min(values)
    kept = 0
    for seed in range(20):
        mech = new_mechanism(get_recipe("annealing"))
        incumbent, worse = _worse_trial(history, 0.05 * spread)
        kept += mech.accept(as_trial(worse), as_trial(incumbent), make_ctx(history, seed=seed, hook="accept")) is True
    assert 0 < kept < 20


def test_annealing_never_keeps_a_much_worse_trial_nor_anything_once_cold() -> None:
    history = walk_history(10)
    spread = max(t.value for t in history) - min(t.value for t in history)
    for seed in range(20):
        mech = new_mechanism(get_recipe("annealing"))
        incumbent, worse = _worse_trial(history, 1.5 * spread)
        assert mech.accept(as_trial(worse), as_trial(incumbent), make_ctx(history, seed=seed)) is None
        _, slightly = _worse_trial(history, 0.05 * spread)
        late = make_ctx(history, iteration=len(history) + 150, seed=seed)
        assert mech.accept(as_trial(slightly), as_trial(incumbent), late) is None


def test_annealing_leaves_better_and_failed_trials_to_the_engine() -> None:
    history = walk_history(10)
    mech = new_mechanism(get_recipe("annealing"))
    incumbent = [t for t in history if t.accepted][-1]
    better = record(10, SPACE.defaults(), incumbent.value - 1.0, True)
    failed = record(10, SPACE.defaults(), None, False, status="crashed")
    assert mech.accept(as_trial(better), as_trial(incumbent), make_ctx(history)) is None
    assert mech.accept(as_trial(failed), as_trial(incumbent), make_ctx(history)) is None


# ---- restart ---------------------------------------------------------------------------------

def _stalled(stale: int) -> list:
    history = walk_history(4)
    best = min(history, key=lambda t: t.value)
    for i in range(stale):
        params = dict(best.params, x=SPACE.from_unit("x", 0.1 * (i % 10)))
        history.append(record(len(history), params, best.value + 1.0 + i, False))
    return history


def test_restart_stays_quiet_while_the_search_improves() -> None:
    mech = new_mechanism(get_recipe("restart"))
    assert mech.propose(make_ctx(_stalled(5), hook="propose")) is None


def test_restart_fires_after_stagnation_and_moves_every_numeric_dimension() -> None:
    mech = new_mechanism(get_recipe("restart"))
    history = _stalled(6)
    best = min(history, key=lambda t: t.value)
    point = mech.propose(make_ctx(history, hook="propose"))
    assert point is not None
    assert all(point[n] != best.params[n] for n in ("x", "lr", "wd", "dropout"))
    # and not again until another STALL trials have passed
    history.append(record(len(history), point, best.value + 1.0, False))
    assert mech.propose(make_ctx(history, hook="propose")) is None


def test_restart_widens_its_radius_after_fruitless_restarts() -> None:
    mech = new_mechanism(get_recipe("restart"))
    history = _stalled(6)
    best = min(history, key=lambda t: t.value)
    distances = []
    for _ in range(4):
        point = mech.propose(make_ctx(history, hook="propose"))
        distances.append(statistics.mean(abs(SPACE.to_unit(n, point[n]) - SPACE.to_unit(n, best.params[n]))
                                         for n in ("x", "lr", "wd", "dropout")))
        for _ in range(6):
            history.append(record(len(history), point, best.value + 2.0, False))
    assert mech.state_dict()["fruitless"] == 3
    assert distances[-1] > distances[0]


# ---- noise guard -----------------------------------------------------------------------------

def _noisy_history() -> list:
    """Defaults measured three times (sd about 1), then a point kept with a 0.4 gain."""
    defaults = SPACE.defaults()
    history = [record(0, defaults, 10.0, True), record(0, defaults, 11.0, False), record(0, defaults, 9.0, False)]
    lucky = dict(defaults, x=0.0)
    history.append(record(1, lucky, 9.6, True))
    return history


def test_noise_guard_remeasures_an_incumbent_won_within_the_noise_and_keeps_the_remeasurement() -> None:
    mech = new_mechanism(get_recipe("noise_guard"))
    history = _noisy_history()
    proposal = mech.propose(make_ctx(history, hook="propose"))
    assert proposal == history[-1].params
    remeasured = record(2, proposal, 10.5, False)
    verdict = mech.accept(as_trial(remeasured), as_trial(history[-1]), make_ctx(history, hook="accept"))
    assert verdict is True
    history.append(remeasured.model_copy(update={"accepted": True}))
    assert mech.propose(make_ctx(history, hook="propose")) is None  # measured twice now


def test_noise_guard_vetoes_an_improvement_within_the_noise_but_not_a_clear_one() -> None:
    mech = new_mechanism(get_recipe("noise_guard"))
    history = _noisy_history()
    incumbent = history[-1]
    small = record(2, dict(incumbent.params, wd=0.2), incumbent.value - 0.5, True)
    clear = record(2, dict(incumbent.params, wd=0.2), incumbent.value - 5.0, True)
    assert mech.accept(as_trial(small), as_trial(incumbent), make_ctx(history)) is False
    assert mech.accept(as_trial(clear), as_trial(incumbent), make_ctx(history)) is None


def test_noise_guard_stops_remeasuring_once_the_objective_proves_deterministic() -> None:
    log = MiniLoop(new_mechanism(get_recipe("noise_guard")), seed=1).run(30)
    sources = [e for e in log if e.get("propose") is not None]
    assert len(sources) == 1
