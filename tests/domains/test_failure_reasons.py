"""A trial that does not succeed says why, in one clean line drawn from its output."""

from __future__ import annotations

import json
from pathlib import Path

from autoresearch_standin import copy_standin

from bilevel_evolve.domains.command import CommandDomain
from bilevel_evolve.domains.failure import reason_from_output
from bilevel_evolve.domains.options import DomainOptions
from bilevel_evolve.domains.train_opt import TrainOptDomain
from bilevel_evolve.ground.records import REASON_CHARS, TrialResult


def test_a_missing_module_is_named(tmp_path: Path) -> None:
    domain = TrainOptDomain(copy_standin(tmp_path / "ar"))
    result = domain.run_trial(domain.space.defaults(), tmp_path / "t", seed=1)
    assert result.status == "crashed"
    assert result.reason == "ModuleNotFoundError: No module named 'kernels'"
    assert "output tail" in result.message  # the log's tail stays in the message


def test_out_of_memory_and_a_bare_assert_are_told_apart(tmp_path: Path) -> None:
    domain = TrainOptDomain(copy_standin(tmp_path / "ar", fixed=True))
    defaults = domain.space.defaults()
    oom = domain.run_trial({**defaults, "DEPTH": 16}, tmp_path / "oom", seed=1)
    assert oom.status == "crashed" and "CUDA out of memory. Tried to allocate 12.00 GiB" in oom.reason
    bad = domain.run_trial({**defaults, "TOTAL_BATCH_SIZE": 2**17}, tmp_path / "assert", seed=1)
    assert bad.reason == "AssertionError at: assert TOTAL_BATCH_SIZE % tokens_per_fwdbwd == 0"
    ok = domain.run_trial(defaults, tmp_path / "ok", seed=1)
    assert ok.status == "ok" and ok.reason == ""


def test_a_trial_killed_at_the_deadline_says_so(tmp_path: Path) -> None:
    train = tmp_path / "train.py"
    train.write_text("import time\nTIME_BUDGET = 1\nMATRIX_LR = 0.04\ntime.sleep(30)\n")
    domain = TrainOptDomain(train, DomainOptions(trial_timeout_s=0.5))
    result = domain.run_trial(domain.space.defaults(), tmp_path / "t", seed=1)
    assert result.status == "timeout" and result.reason == "killed at the time limit (0.5 s)"


def test_a_command_without_the_metric_line_names_the_regex_and_its_last_line(tmp_path: Path) -> None:
    (tmp_path / "bench.py").write_text("print('warming up')\nprint('done, no score')\n")
    spec = {"command": ["python", "bench.py"], "space": {"n": {"type": "int", "low": 1, "high": 8, "default": 2}},
            "metric_regex": "score: ([0-9.]+)"}
    (tmp_path / "spec.json").write_text(json.dumps(spec))
    domain = CommandDomain(tmp_path / "spec.json")
    result = domain.run_trial({"n": 2}, tmp_path / "t", seed=1)
    assert result.status == "failed"
    assert result.reason == "no match for metric_regex 'score: ([0-9.]+)'; last output line: done, no score"


def test_a_reason_is_untrusted_output_made_one_clean_capped_line() -> None:
    hostile = "\x1b[31mRuntimeError: boom\x1b[0m\nsecond line " + "x" * 500
    result = TrialResult(status="crashed", reason=hostile)
    assert "\x1b" not in result.reason and "\n" not in result.reason
    assert len(result.reason) <= REASON_CHARS and result.reason.startswith("\\x1b[31mRuntimeError: boom")
    again = TrialResult(status="crashed", reason=result.reason)
    assert again.reason == result.reason  # cleaning twice changes nothing (a recovered trial)


def test_without_a_reason_a_failure_takes_its_messages_first_line_and_success_has_none() -> None:
    assert TrialResult(status="invalid", message="x0: 9 is outside [-5, 5]\nmore").reason == "x0: 9 is outside [-5, 5]"
    assert TrialResult(status="ok", value=1.0, reason="ignored").reason == ""


def test_the_last_traceback_decides_and_plain_output_names_nothing() -> None:
    output = ("Traceback (most recent call last):\n  File 'a.py'\nKeyError: 'old'\nretrying\n"
              "Traceback (most recent call last):\n  File 'b.py', line 3\n    x = load()\n"
              "torch.distributed.DistStoreError: timed out\n")
    assert reason_from_output(output) == "torch.distributed.DistStoreError: timed out"
    assert reason_from_output("step 1 loss 3.2\nFAIL\n") == "the loss diverged (the script printed FAIL)"
    assert reason_from_output("all good\n") is None
