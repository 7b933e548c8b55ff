"""Turn a finished train.py process into a TrialResult (val_bpb plus the summary lines)."""

from __future__ import annotations

import math
import re

from bilevel_evolve.domains.failure import last_line, reason_from_output
from bilevel_evolve.domains.process import ProcessOutcome
from bilevel_evolve.ground.records import TrialResult, TrialStatus

METRIC = "val_bpb"
_SUMMARY_LINE = re.compile(r"^\s*([A-Za-z_][A-Za-z0-9_]*):\s*(\S+)\s*$")
_TAIL_CHARS = 1500


def parse_summary(output: str) -> dict[str, float]:
    """Numeric 'key: value' lines after the last '---' line (Karpathy's summary block).

    With no '---' line, every numeric 'key: value' line counts; the last one of a key wins.
    """
    lines = output.splitlines()
    marks = [i for i, line in enumerate(lines) if line.strip() == "---"]
    summary: dict[str, float] = {}
    for line in lines[marks[-1] + 1 :] if marks else lines:
        m = _SUMMARY_LINE.match(line)
        if m is None:
            continue
        try:
            summary[m[1]] = float(m[2])
        except ValueError:
            continue
    return summary


def result_from_outcome(outcome: ProcessOutcome, timeout_s: float) -> TrialResult:
    summary = parse_summary(outcome.output)
    value = summary.pop(METRIC, None)
    metrics = {k: v for k, v in summary.items() if math.isfinite(v)}
    tail = outcome.tail(_TAIL_CHARS)

    def result(status: TrialStatus, message: str = "", value: float | None = None, reason: str = "") -> TrialResult:
        return TrialResult(status=status, value=value, message=message, duration_s=outcome.duration_s,
                           metrics=metrics, reason=reason)

    if outcome.timed_out:
        return result("timeout", f"no result within {timeout_s:g} s; output tail:\n{tail}",
                      reason=f"killed at the time limit ({timeout_s:g} s)")
    if outcome.returncode != 0:
        exit_reason = _exit_reason(outcome)
        return result("crashed", f"{exit_reason}; output tail:\n{tail}",
                      reason=reason_from_output(outcome.output) or _with_last_line(exit_reason, outcome.output))
    if value is None:
        return result("failed", f"no '{METRIC}:' line in the output; output tail:\n{tail}",
                      reason=_with_last_line(f"finished without a '{METRIC}:' line", outcome.output))
    if not math.isfinite(value):
        return result("failed", f"{METRIC} is {value}", reason=f"{METRIC} is {value} (the loss diverged?)")
    return result("ok", value=value)


def _with_last_line(what: str, output: str) -> str:
    last = last_line(output)
    return f"{what}; last output line: {last}" if last else f"{what}, with no output"


def _exit_reason(outcome: ProcessOutcome) -> str:
    code = outcome.returncode
    if code is not None and code < 0:
        return f"train.py was killed by signal {-code} (out of memory?)"
    diverged = any(line.strip().startswith("FAIL") for line in outcome.output.splitlines()[-50:])
    return f"train.py exited with status {code}" + (" after printing FAIL (loss diverged)" if diverged else "")
