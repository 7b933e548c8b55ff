"""Fail fast: a run whose trials cannot succeed stops at once, saying why and how to fix it.

Two rules. The baseline trial (the space's defaults) must succeed: if it does not, nothing after it
can be trusted, and on a GPU every further trial would cost minutes. And when the first K search
trials that ran all failed, the set-up is broken rather than the proposals bad. The stop comes before
the step is checkpointed, so `evolve resume` runs the failed trial again once the cause is fixed.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from pathlib import Path

from bilevel_evolve.ground.errors import EvolveError
from bilevel_evolve.ground.records import TrialRecord, TrialResult
from bilevel_evolve.ground.untrusted import for_terminal

RAN = ("ok", "failed", "crashed", "timeout")  # statuses of trials that ran (invalid and rejected ones never did)
DEFAULT_FIRST_FAILURES = 5
_TAIL_LINES = 15
_MISSING_MODULE = re.compile(r"No module named '([A-Za-z0-9_.]+)'")


class TrialsFailing(EvolveError):
    """Raised (exit 1) when a fail-fast rule stops the run; the run stays resumable."""

    def __init__(self, problem: str, fix: str, *, reason: str, trial_dir: Path) -> None:
        super().__init__(problem, fix)
        self.reason = reason
        self.trial_dir = trial_dir


class FailFast:
    """first_failures = K of the rule above; 0 turns both rules off."""

    def __init__(self, first_failures: int = DEFAULT_FIRST_FAILURES, *, run_dir: Path, python: str | None = None
                 ) -> None:
        self.first_failures = first_failures
        self.run_dir = run_dir
        self.python = python

    def check(self, step: int, baseline: bool, result: TrialResult, history: Sequence[TrialRecord],
              trial_dir: Path) -> TrialsFailing | None:
        """The stop for this step's result (`history` holds the trials before it), or None to go on."""
        if self.first_failures <= 0 or result.status == "ok":
            return None
        if baseline:
            what = f"the baseline trial (step {step}, the space's defaults) {result.status}"
        else:
            ran = [t for t in history if t.source != "baseline" and t.status in RAN]
            if result.status not in RAN or len(ran) + 1 != self.first_failures or any(t.status == "ok" for t in ran):
                return None
            what = (f"the first {self.first_failures} search trials all failed (set by --fail-fast); "
                    f"the last, step {step}, {result.status}")
        tail = _log_tail(result.message)
        problem = f"{what}: {result.reason or 'no reason given'}"
        if tail:
            problem += "\n  the log's last lines:\n" + "\n".join(f"    | {line}" for line in tail)
        problem += f"\n  trial directory: {trial_dir}"
        fix = (f"{fix_for(result.reason, self.python, trial_dir)}; then `evolve resume {self.run_dir}` "
               "runs this trial again and goes on")
        if not baseline:
            fix += " (where failures like these are expected, start the run with a larger --fail-fast, or 0 for off)"
        return TrialsFailing(problem, fix, reason=result.reason, trial_dir=trial_dir)


def fix_for(reason: str, python: str | None, trial_dir: Path) -> str:
    """What to do about a failure reason, as specific as the reason allows."""
    missing = _MISSING_MODULE.search(reason)
    interpreter = python or "python"
    if missing:
        module = missing.group(1).split(".")[0]
        return (f"install the missing module {module!r} into the Python that runs the trials "
                f"(`{interpreter} -m pip install {module}`; its package may have another name), or pass "
                "--python with an interpreter that has it")
    if re.search(r"out of memory|OutOfMemoryError", reason, re.I):
        return ("make the defaults fit in memory: lower the batch size or model size in the script (e.g. "
                "DEVICE_BATCH_SIZE, \"reduce if OOM\"), or give a --space whose defaults are smaller, or free the GPU")
    if reason.startswith("killed at the time limit"):
        return "raise --trial-timeout, or lower the training time (--time-budget) so that one trial ends in time"
    return f"run the trial by hand to see the whole error (cd {trial_dir} and run its command), and fix the cause"


def _log_tail(message: str) -> list[str]:
    """The last lines of the output a domain put in its message (after 'output tail:'), made safe to print."""
    _, found, tail = message.partition("output tail:")
    if not found:
        return []
    lines = [line.rstrip() for line in tail.strip("\n").splitlines() if line.strip()]
    return [for_terminal(line, 300) for line in lines[-_TAIL_LINES:]]
