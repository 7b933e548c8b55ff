"""Turn a finished train.py process into a TrialResult (val_bpb plus the summary lines)."""

from __future__ import annotations

import math
import re

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

    def result(status: TrialStatus, message: str = "", value: float | None = None) -> TrialResult:
        return TrialResult(status=status, value=value, message=message, duration_s=outcome.duration_s,
                           metrics=metrics)

    if outcome.timed_out:
        return result("timeout", f"no result within {timeout_s:g} s; output tail:\n{tail}")
    if outcome.returncode != 0:
        return result("crashed", f"{_exit_reason(outcome)}; output tail:\n{tail}")
    if value is None:
        return result("failed", f"no '{METRIC}:' line in the output; output tail:\n{tail}")
    if not math.isfinite(value):
        return result("failed", f"{METRIC} is {value}")
    return result("ok", value=value)


def _exit_reason(outcome: ProcessOutcome) -> str:
    code = outcome.returncode
    if code is not None and code < 0:
        return f"train.py was killed by signal {-code} (out of memory?)"
    diverged = any(line.strip().startswith("FAIL") for line in outcome.output.splitlines()[-50:])
    return f"train.py exited with status {code}" + (" after printing FAIL (loss diverged)" if diverged else "")
