"""Issue 15, item 5 (SANDBOX_TESTS case 36): a metric_regex that backtracks catastrophically is bounded
by the trial's time limit instead of hanging the engine; ordinary patterns match as before."""

from __future__ import annotations

import json
import re
from pathlib import Path

from bilevel_evolve.domains.command.metric import search_metric
from bilevel_evolve.domains.registry import load_domain

# (a+)+$ against many a's and a b: Python's re tries every split of the a's (2^40 of them): hours on any machine
CATASTROPHIC = r"score: ((a+)+)$"
PROGRAM = 'print("score: " + "a" * 40 + "b")\n'


def _domain(tmp_path: Path, regex: str, timeout_s: float) -> object:
    (tmp_path / "bench.py").write_text(PROGRAM)
    spec = {"command": ["python", "bench.py"], "space": {"x": {"type": "float", "low": 0, "high": 1, "default": 0.5}},
            "metric_regex": regex, "timeout_s": timeout_s}
    (tmp_path / "spec.json").write_text(json.dumps(spec))
    return load_domain(f"command:{tmp_path / 'spec.json'}")


def test_a_catastrophic_metric_regex_ends_the_trial_at_its_time_limit(tmp_path: Path) -> None:
    domain = _domain(tmp_path, CATASTROPHIC, timeout_s=2)
    result = domain.run_trial({"x": 0.5}, tmp_path / "trial", seed=0)  # type: ignore[attr-defined]
    assert result.status == "timeout"
    assert result.reason == f"metric_regex {CATASTROPHIC!r} did not finish matching within the time limit (2 s)"


def test_the_search_finds_what_re_finds() -> None:
    text = "score: 1\nnoise\nscore: 2.5e-3\nscore: x\n"
    found = search_metric(r"score: ([0-9.e+-]+)$", re.MULTILINE, text, limit_s=60)
    assert (found.matched, found.group, found.timed_out) == (True, "2.5e-3", False)
    assert not search_metric(r"final: (\d+)", 0, text, limit_s=60).matched
    optional = search_metric(r"score: (\d+)?x", 0, text, limit_s=60)
    assert optional.matched and optional.group is None  # the group took no part: "not a number" later
