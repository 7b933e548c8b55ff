"""SANDBOX_TESTS cases 28 and 32 in real runs: a hook that, after the smoke test, returns a 4 MB string or a
deep structure, or spends just under its deadline on every call, goes over a budget and is rolled back
with the reason; the trace stays small, the other mechanism is untouched, and the run resumes and reports."""

from __future__ import annotations

from pathlib import Path

import pytest

from .live_support import TURN, VICTIM, live_run, turning

pytestmark = pytest.mark.docker
ITERATIONS = 18
STOP_AFTER = 1 + TURN + 2


@pytest.mark.parametrize(("hook", "attack", "expected"), [
    ("review", "return {'reject': 'x' * 4_000_000}", "hook review over-budget: returned 4,000,014 bytes of JSON"),
    ("guide", "value = None\nfor _ in range(50_000):\n    value = [value]\nreturn value",
     "hook guide raised: RecursionError"),
    ("guide", "value = None\nfor _ in range(500):\n    value = [value]\nreturn value",
     "hook guide invalid: returned a value nested deeper than 32 levels"),
])
def test_a_huge_or_deep_return_is_rolled_back_and_the_trace_stays_small(
        tmp_path: Path, hook: str, attack: str, expected: str) -> None:
    run = live_run(tmp_path, {"victim": VICTIM, "hoarder": turning("hoarder", attack, hook=hook)},
                   iterations=ITERATIONS, stop_after_step=STOP_AFTER)
    rolled = run.rolled_back()
    assert list(rolled) == ["hoarder"] and rolled["hoarder"][0] == TURN
    assert rolled["hoarder"][1].startswith(expected), rolled["hoarder"][1]
    run.resume_and_report()
    assert run.active_at_end() == ["victim"]
    assert run.final_states()["victim"] == {"seen": ITERATIONS}
    assert run.trace_bytes() < 256 * 1024, "what the hook returned reached the trace"


def test_a_hook_that_stays_under_its_deadline_but_over_the_iteration_budget_is_rolled_back(tmp_path: Path) -> None:
    slow = turning("slow", "time.sleep(1.5)\nreturn None")  # well under the 5 s call deadline
    run = live_run(tmp_path, {"victim": VICTIM, "slow": slow}, iterations=ITERATIONS, stop_after_step=STOP_AFTER,
                   mechanism_step_budget_s=1.0)
    rolled = run.rolled_back()
    assert list(rolled) == ["slow"] and rolled["slow"][0] == TURN
    assert rolled["slow"][1].startswith("hook observe over-budget: its hooks took ")
    assert rolled["slow"][1].endswith("the budget is 1 s per iteration (--mechanism-step-budget)")
    run.resume_and_report()
    assert run.active_at_end() == ["victim"]


def test_a_hook_slow_on_every_call_is_rolled_back_by_the_run_budget(tmp_path: Path) -> None:
    slow = turning("slow", "time.sleep(0.5)\nreturn None")
    run = live_run(tmp_path, {"victim": VICTIM, "slow": slow}, iterations=ITERATIONS, stop_after_step=STOP_AFTER,
                   mechanism_run_budget_s=1.2)
    rolled = run.rolled_back()
    assert list(rolled) == ["slow"] and TURN < rolled["slow"][0] <= TURN + 2  # its third slow call at the latest
    assert rolled["slow"][1].endswith("the budget is 1.2 s (--mechanism-run-budget)")
    run.resume_and_report()
    assert run.active_at_end() == ["victim"] and run.final_states()["victim"] == {"seen": ITERATIONS}
