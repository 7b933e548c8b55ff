"""Fail fast: a run whose trials cannot succeed stops at once with the reason and the fix, spends no model
call on it, and goes on after the fix with `evolve resume`."""

from __future__ import annotations

from pathlib import Path

import pytest
from autoresearch_standin import copy_standin, install_kernels_stub
from fake_openai import FakeOpenAI, Reply
from quadratic_domain import QuadraticDomain

from bilevel_evolve.engine.agents.offline import OfflineAgent
from bilevel_evolve.engine.cli.main import main
from bilevel_evolve.engine.run.fail_fast import FailFast, TrialsFailing
from bilevel_evolve.engine.run.loop import InnerLoop
from bilevel_evolve.engine.run.store import RunStore
from bilevel_evolve.engine.wiring.run_config import RunConfig
from bilevel_evolve.ground.errors import EXIT_FAILED, EXIT_OK
from bilevel_evolve.ground.records import TrialResult
from bilevel_evolve.ground.space import Scalar


def test_a_broken_baseline_stops_the_run_with_the_reason_and_the_fix_and_resumes_after_it(
        fake: FakeOpenAI, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    fake.responder = lambda request: Reply.json({"params": {"DEPTH": 6}})
    monkeypatch.setenv("FAKE_KEY", "sk-test")
    monkeypatch.chdir(tmp_path)
    train = copy_standin(tmp_path / "ar")  # its `from kernels import get_kernel` fails here
    run_dir = tmp_path / "run"
    code = main(["run", "--domain", f"train_opt:{train}", "--iterations", "3", "--no-progress", "--agent", "llm",
                 "--provider", "fake", "--base-url", fake.base_url, "--api-key-env", "FAKE_KEY", "--model", "m",
                 "--run-dir", str(run_dir)])
    err = capsys.readouterr().err
    assert code == EXIT_FAILED
    assert "the baseline trial (step 0, the space's defaults) crashed: ModuleNotFoundError: No module named " \
           "'kernels'" in err
    assert "    | ModuleNotFoundError: No module named 'kernels'" in err  # the log's tail
    assert f"trial directory: {run_dir / 'trials' / '00000'}" in err
    assert "fix: install the missing module 'kernels'" in err and f"`evolve resume {run_dir}`" in err
    assert not fake.requests  # not one paid call on a run that cannot succeed
    stop = [e for e in RunStore.open(run_dir).events() if e.kind == "run_stopped"]
    assert len(stop) == 1 and stop[0].step == 0 and "kernels" in stop[0].reason

    install_kernels_stub(train.parent)  # the fix
    assert main(["resume", str(run_dir), "--no-progress"]) == EXIT_OK
    trials = [e for e in RunStore.open(run_dir).events() if e.kind == "trial"]
    assert [t.step for t in trials] == [0, 1, 2, 3]
    assert trials[0].status == "ok" and not trials[0].recovered  # the baseline ran again, not taken from before
    assert len(fake.requests) == 3


class _FailsAwayFromDefaults(QuadraticDomain):
    """Every point but the defaults crashes, until `fixed`."""

    fixed = False

    def run_trial(self, params: dict[str, Scalar], trial_dir: Path, seed: int) -> TrialResult:
        if not self.fixed and params != self.space.defaults():
            return TrialResult(status="crashed", reason="ImportError: libcuda.so.1 not found")
        return super().run_trial(params, trial_dir, seed)


def _loop(store: RunStore, config: RunConfig, domain: QuadraticDomain, tmp_path: Path) -> InnerLoop:
    return InnerLoop(store, config, domain, OfflineAgent(), fail_fast=FailFast(config.fail_fast, run_dir=tmp_path))


def test_a_run_whose_first_k_trials_all_fail_stops_at_the_kth_and_resumes_from_it(tmp_path: Path) -> None:
    config = RunConfig(run_id="k", domain="test", iterations=6, seed=1, fail_fast=3)
    domain = _FailsAwayFromDefaults()
    store = RunStore.create(tmp_path / "run", config)
    loop = _loop(store, config, domain, tmp_path)
    loop.start()
    with pytest.raises(TrialsFailing, match=r"the first 3 search trials all failed .*ImportError: libcuda"):
        loop.run()
    store.close()
    checkpoint = RunStore.open(tmp_path / "run").load_checkpoint()
    assert checkpoint is not None and checkpoint.steps_done == 3  # the failing third trial is not checkpointed

    domain.fixed = True
    store = RunStore.open(tmp_path / "run")
    loop = _loop(store, config, domain, tmp_path)
    loop.resume()
    loop.run()
    store.close()
    trials = [e for e in store.events() if e.kind == "trial"]
    assert [(t.step, t.status) for t in trials] == [(0, "ok"), (1, "crashed"), (2, "crashed"), (3, "ok"),
                                                   (4, "ok"), (5, "ok"), (6, "ok")]


def test_with_fail_fast_off_a_failing_run_goes_on(tmp_path: Path) -> None:
    config = RunConfig(run_id="off", domain="test", iterations=5, seed=1, fail_fast=0)
    store = RunStore.create(tmp_path / "run", config)
    loop = _loop(store, config, QuadraticDomain(crash_when=4.0), tmp_path)  # the baseline itself crashes
    loop.start()
    assert loop.run().status == "completed"


class _BreaksAfterTwo(QuadraticDomain):
    """The baseline and the first search trial succeed; every trial after them crashes."""

    def run_trial(self, params: dict[str, Scalar], trial_dir: Path, seed: int) -> TrialResult:
        if self.calls >= 2:
            return TrialResult(status="crashed", message="RuntimeError: the disk is full")
        return super().run_trial(params, trial_dir, seed)


def test_failures_after_a_success_do_not_stop_the_run(tmp_path: Path) -> None:
    config = RunConfig(run_id="later", domain="test", iterations=6, seed=1, fail_fast=2)
    store = RunStore.create(tmp_path / "run", config)
    loop = _loop(store, config, _BreaksAfterTwo(), tmp_path)
    loop.start()
    assert loop.run().status == "completed"
    assert [e.status for e in store.events() if e.kind == "trial"].count("crashed") == 5
