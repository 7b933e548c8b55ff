"""The metric of a command trial: the spec's metric_regex over the trial's output, within a time limit.

Python's `re` backtracks, so a pattern such as `(a+)+$` can take hours on a short line, and it holds
the interpreter while it does: a thread cannot be abandoned. The match therefore runs in a child
interpreter (the same `re`, so the same matches) that is killed when the trial's time is up.
"""

from __future__ import annotations

import json
import subprocess
import sys
from dataclasses import dataclass

# The child: reads {"pattern", "flags", "text"} on stdin, prints {"matched": bool, "group": the first
# group of the last match}. -I: isolated from the environment and the user's site; -S: no site import.
_MATCHER = (
    "import json, re, sys\n"
    "job = json.load(sys.stdin)\n"
    "last = None\n"
    "for last in re.finditer(job['pattern'], job['text'], job['flags']):\n"
    "    pass\n"
    "json.dump({'matched': last is not None, 'group': None if last is None else last.group(1)}, sys.stdout)\n"
)


@dataclass(frozen=True)
class MetricSearch:
    """What the search found: whether the pattern matched and its last match's first group (None when
    that group took no part in the match); or why there is no answer (it ran out of time, or failed)."""

    matched: bool = False
    group: str | None = None
    timed_out: bool = False
    failure: str = ""


def search_metric(pattern: str, flags: int, output: str, limit_s: float) -> MetricSearch:
    """The first group of the last match of `pattern` in `output`, given at most `limit_s` seconds."""
    job = json.dumps({"pattern": pattern, "flags": flags, "text": output})
    try:
        done = subprocess.run([sys.executable, "-I", "-S", "-c", _MATCHER], input=job.encode(),
                              capture_output=True, timeout=limit_s, check=False)
    except subprocess.TimeoutExpired:
        return MetricSearch(timed_out=True)
    try:
        found = json.loads(done.stdout)
        return MetricSearch(matched=bool(found["matched"]), group=found["group"])
    except (ValueError, KeyError, TypeError):  # the child died (out of memory on a huge output, say)
        lines = done.stderr.decode("utf-8", "replace").strip().splitlines()
        return MetricSearch(failure=f"the metric_regex search failed (exit code {done.returncode}): "
                                    f"{lines[-1] if lines else 'no error message'}")
