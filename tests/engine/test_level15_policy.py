"""Level 1.5's policy: a change is judged by the window after it and reverted when that measured worse;
the offline analyst's step scale follows the 1/5 success rule and it freezes only on evidence."""

from __future__ import annotations

import json
from dataclasses import dataclass, field

from bilevel_evolve.engine.analysis.diagnosis import Diagnosis, diagnose
from bilevel_evolve.engine.outer.decisions import ChangeConfig
from bilevel_evolve.engine.outer.level15 import (
    FREEZE_EVIDENCE,
    STEP_FACTOR,
    STEP_RANGE,
    ConfigController,
    ConfigDecision,
    OfflineAnalyst,
    success_share,
)
from bilevel_evolve.engine.outer.level15_window import measure, worse
from bilevel_evolve.ground.records import SearchConfig, TrialRecord
from bilevel_evolve.ground.space import SearchSpace

SPACE = SearchSpace.from_dict({f"x{i}": {"type": "float", "low": -1.0, "high": 1.0, "default": 0.0}
                               for i in range(5)})


@dataclass
class _View:
    """The part of a LoopView the Level 1.5 controller reads."""

    iteration: int
    history: tuple[TrialRecord, ...]
    search_config: SearchConfig = field(default_factory=SearchConfig)
    space: SearchSpace = SPACE
    direction: str = "minimize"
    noise_floor: float = 0.0


def _trial(i: int, value: float, accepted: bool, *, name: str = "x0", status: str = "ok") -> TrialRecord:
    params = SPACE.defaults() | ({name: 0.1 * (i % 7 + 1)} if i else {})
    return TrialRecord(iteration=i, params=params, value=value, status=status,  # type: ignore[arg-type]
                       accepted=accepted, source="baseline" if i == 0 else "agent")


def _history(values: list[float]) -> tuple[TrialRecord, ...]:
    """Trials 0.. with these values, each kept when it is a new best."""
    out, best = [], float("inf")
    for i, v in enumerate(values):
        out.append(_trial(i, v, v < best))
        best = min(best, v)
    return tuple(out)


class _Says:
    """An analyst that answers the given decision, whatever the trace shows."""

    source = "test"

    def __init__(self, decision: ConfigDecision) -> None:
        self.decision = decision

    def decide(self, d: Diagnosis, config: SearchConfig, view: object) -> ConfigDecision:
        return self.decision


EXPLORE = ConfigDecision(diagnosis="try wider steps", strategy="explore", step_scale=2.0)


def test_a_change_whose_window_measured_worse_is_reverted_with_its_reason_and_not_made_again() -> None:
    controller = ConfigController(_Says(EXPLORE), every=5)
    improving = [10.0, 9.0, 8.0, 7.0, 6.0, 5.0]  # iterations 0..5: a new best every time
    (change,) = controller.before_step(_View(6, _history(improving)))
    assert isinstance(change, ChangeConfig) and change.config.strategy == "explore"
    flat = [*improving, 6.5, 7.0, 8.0, 5.5, 9.0]  # iterations 6..10 after the change: no new best
    view = _View(11, _history(flat), search_config=change.config)
    (revert,) = controller.before_step(view)
    assert isinstance(revert, ChangeConfig) and revert.config == SearchConfig()
    assert revert.reason.startswith("reverted the change of iteration 6 (try wider steps)")
    assert "found no new best" in revert.reason and controller.reverts == 1
    # the reverted configuration is remembered (checkpoint included): the same change is not made again
    again = ConfigController(_Says(EXPLORE), every=5)
    again.load_state_dict(controller.state_dict())
    assert tuple(again.before_step(_View(16, _history(flat + [5.0] * 5)))) == ()


def test_a_change_followed_by_progress_or_made_when_stuck_is_kept() -> None:
    improving = [10.0, 9.0, 8.0, 7.0, 6.0, 5.0]
    controller = ConfigController(_Says(EXPLORE), every=5)
    (change,) = controller.before_step(_View(6, _history(improving)))
    better = [*improving, 4.0, 6.0, 6.0, 6.0, 6.0]  # a new best in the window after
    assert tuple(controller.before_step(_View(11, _history(better), search_config=change.config))) == ()
    assert controller.reverts == 0
    stuck = [10.0, 11.0, 12.0, 11.0, 12.0, 11.0]  # no gain before the change: nothing it could have stopped
    controller = ConfigController(_Says(EXPLORE), every=5)
    (change,) = controller.before_step(_View(6, _history(stuck)))
    still = stuck + [12.0] * 5
    assert tuple(controller.before_step(_View(11, _history(still), search_config=change.config))) == ()


def test_a_gain_within_the_noise_floor_is_no_progress_and_failures_that_rise_are_worse() -> None:
    history = _history([10.0, 9.99, 9.98, 9.97, 9.96, 9.95, 9.96, 9.97, 9.98, 9.99, 9.99])
    before, after = measure(history, 1, 6, "minimize"), measure(history, 6, 11, "minimize")
    assert before["gain"] > 0 and after["gain"] == 0
    assert worse(before, after, noise=0.0) is not None
    assert worse(before, after, noise=0.1) is None  # the gain before was noise: nothing stopped
    failing = history[:6] + tuple(_trial(i, 1.0, False, status="crashed") for i in range(6, 11))
    why = worse(measure(failing, 1, 6, "minimize"), measure(failing, 6, 11, "minimize"), noise=1.0)
    assert why is not None and "failure rate rose from 0% to 100%" in why


def _decide(values: list[float]) -> ConfigDecision:
    history = _history(values)
    d = diagnose(history, SPACE, "minimize", 5)
    return OfflineAnalyst().decide(d, SearchConfig(step_scale=1.0), _View(len(values), history))


def test_the_offline_step_scale_grows_after_successes_and_shrinks_after_failures() -> None:
    many = _decide([10.0, 9.0, 8.0, 7.0, 6.0, 5.0])  # 5 of the last 5 kept
    assert many.strategy == "exploit" and many.step_scale == STEP_FACTOR
    none = _decide([10.0, 9.0, 9.5, 9.5, 9.5, 9.5, 9.5])  # none of the last 5 kept
    assert none.strategy == "exploit" and none.diagnosis.startswith("stalled")
    assert abs(none.step_scale * STEP_FACTOR - 1.0) < 1e-5
    one = _decide([10.0, 9.0, 9.5, 9.5, 8.0, 9.5, 9.5])  # 1 of the last 5: on the 1/5 target, unchanged
    assert one.step_scale == 1.0


def test_a_success_of_the_step_rule_is_a_new_best_not_a_worse_trial_that_was_kept() -> None:
    kept_worse = (*_history([10.0, 9.0, 8.0]), *(_trial(i, 20.0, True) for i in range(3, 6)))
    assert success_share(kept_worse, 5, "minimize") == 0.4  # iterations 1 and 2; 3..5 were kept but worse
    assert success_share(_history([1.0, 2.0, 3.0, 4.0]), 5, "maximize") == 1.0


def test_the_offline_analyst_explores_when_the_smallest_steps_stalled_too() -> None:
    history = _history([10.0, 9.0, 9.5, 9.5, 9.5, 9.5, 9.5])
    d = diagnose(history, SPACE, "minimize", 5)
    smallest = SearchConfig(step_scale=STEP_RANGE[0])
    decision = OfflineAnalyst().decide(d, smallest, _View(len(history), history))
    assert decision.strategy == "explore" and decision.step_scale == 1.0 and "smallest step" in decision.diagnosis


def test_the_offline_analyst_freezes_a_parameter_only_after_enough_fruitless_trials() -> None:
    values = [10.0] + [11.0] * (FREEZE_EVIDENCE - 1)
    history = tuple(_trial(i, v, i == 0, name="x4") for i, v in enumerate(values))
    d = diagnose(history, SPACE, "minimize", 5)
    assert OfflineAnalyst().decide(d, SearchConfig(), _View(len(values), history)).freeze == []
    history += (_trial(len(values), 11.0, False, name="x4"),)
    d = diagnose(history, SPACE, "minimize", 5)
    assert OfflineAnalyst().decide(d, SearchConfig(), _View(len(history), history)).freeze == ["x4"]


def test_a_change_awaiting_its_verdict_survives_a_checkpoint() -> None:
    """Killed between a change and its verdict, a resumed run judges it exactly as an uninterrupted one."""
    improving = [10.0, 9.0, 8.0, 7.0, 6.0, 5.0]
    flat = _history([*improving, 6.5, 7.0, 8.0, 5.5, 9.0])
    straight = ConfigController(_Says(EXPLORE), every=5)
    (change,) = straight.before_step(_View(6, _history(improving)))
    resumed = ConfigController(_Says(EXPLORE), every=5)
    resumed.load_state_dict(json.loads(json.dumps(straight.state_dict())))  # the checkpoint is JSON
    assert resumed.before_step(_View(11, flat, search_config=change.config)) == \
        straight.before_step(_View(11, flat, search_config=change.config))
    assert resumed.state_dict() == straight.state_dict() and resumed.reverts == 1
