"""`evolve resume RUN --iterations N`: a finished run extended to N iterations in the same trace, the
part it had written untouched, nothing repeated; a crash or a kill during the extension resumed by a
plain `evolve resume`; what it will not do (lower a total, extend past a spent LLM budget) changes nothing."""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from interrupted_run import interrupted_run
from kill_resume import decided_trials

from bilevel_evolve.engine.cli.main import main
from bilevel_evolve.engine.run.extension import plan_resume
from bilevel_evolve.engine.run.loop import InnerLoop
from bilevel_evolve.engine.run.progress import RunProgress
from bilevel_evolve.engine.run.store import RunStore
from bilevel_evolve.engine.ui.run_view import run_snapshot

FILES = ("config.json", "trace.jsonl", "checkpoint.json")


def _main(capsys: pytest.CaptureFixture, *argv: str) -> tuple[int, str]:
    code = main(list(argv))
    captured = capsys.readouterr()
    return code, captured.err + captured.out


def _files(run_dir: Path) -> dict[str, bytes]:
    return {name: (run_dir / name).read_bytes() for name in FILES}


def _events(run_dir: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in (run_dir / "trace.jsonl").read_text().splitlines()]


def _kinds(run_dir: Path, kind: str) -> list[dict[str, Any]]:
    return [e for e in _events(run_dir) if e["kind"] == kind]


def _run(capsys: pytest.CaptureFixture, run_dir: Path, iterations: int, *extra: str) -> Path:
    code, err = _main(capsys, "run", "--domain", "function:hartmann6", "--seed", "7", "--iterations", str(iterations),
                      "--run-dir", str(run_dir), "--no-progress", *extra)
    assert code == 0, err
    return run_dir


def test_a_finished_run_extended_by_10_holds_10_more_trials_and_its_first_part_is_untouched(
        tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    run_dir = _run(capsys, tmp_path / "r", 10, "--levels", "1,1.5")
    before, trials_before = _files(run_dir), decided_trials(run_dir)
    config_before = json.loads(before["config.json"])

    code, err = _main(capsys, "resume", str(run_dir), "--iterations", "20", "--no-progress")
    assert code == 0, err
    assert "extending" in err and "from 10 to 20 iterations" in err

    trace = (run_dir / "trace.jsonl").read_bytes()
    assert trace.startswith(before["trace.jsonl"]), "the trace was rewritten, not appended to"
    trials = decided_trials(run_dir)  # each step exactly once
    assert trials[:11] == trials_before and len(trials) == 21
    assert [e["iteration"] for e in _kinds(run_dir, "trial")][11:] == list(range(11, 21))

    config = json.loads((run_dir / "config.json").read_text())
    (extension,) = config.pop("extensions")
    assert config_before.pop("extensions") == [] and config == {**config_before, "iterations": 20}
    assert {k: extension[k] for k in ("steps_done", "iterations_before", "iterations")} == {
        "steps_done": 11, "iterations_before": 10, "iterations": 20}
    assert datetime.fromisoformat(extension["at"]).tzinfo is not None
    checkpoint = json.loads((run_dir / "checkpoint.json").read_text())
    assert checkpoint["status"] == "completed" and checkpoint["steps_done"] == 21

    added = [json.loads(line) for line in trace[len(before["trace.jsonl"]):].splitlines()]
    assert added[0]["kind"] == "run_extended" and added[1]["kind"] == "run_resumed"
    assert {k: added[0][k] for k in ("step", "iterations_before", "iterations", "at")} == {
        "step": 11, "iterations_before": 10, "iterations": 20, "at": extension["at"]}
    assert added[-1]["kind"] == "run_finished" and added[-1]["steps"] == 21
    assert len(_kinds(run_dir, "run_extended")) == 1

    code, out = _main(capsys, "report", str(run_dir))
    assert code == 0 and "completed" in out and "10 -> 20 iterations" in out


@pytest.mark.parametrize("extra", [["--levels", "1"], ["--levels", "1,1.5"],
                                   ["--levels", "1,1.5", "--acceptance", "noise-aware", "--noise-sd", "0.05"]],
                         ids=["level1", "level1.5", "noise-aware"])
def test_a_run_of_10_extended_to_20_decides_as_a_run_of_20_with_the_same_seed(
        tmp_path: Path, capsys: pytest.CaptureFixture, extra: list[str]) -> None:
    """The proposer's state and the Level 1.5 controller's are checkpointed and the trial seeds are a
    function of (seed, step), so the extension continues exactly where a longer run would be."""
    straight = _run(capsys, tmp_path / "straight", 20, *extra)
    extended = _run(capsys, tmp_path / "extended", 10, *extra)
    assert _main(capsys, "resume", str(extended), "--iterations", "20", "--no-progress")[0] == 0
    assert decided_trials(extended) == decided_trials(straight)
    config_changes = [(e["step"], e["after"]) for e in _kinds(straight, "config_changed")]
    assert [(e["step"], e["after"]) for e in _kinds(extended, "config_changed")] == config_changes
    if "1,1.5" in extra:  # Level 1.5 keeps its cadence (iterations 6, 11, 16): one cycle is the extension's first step
        assert any(step >= 11 for step, _ in config_changes)


def test_with_two_workers_the_extension_goes_on_from_the_finished_part(tmp_path: Path,
                                                                       capsys: pytest.CaptureFixture) -> None:
    """Not equal to a straight run of 20 from step 11 on: there, step 11 was proposed while step 10 was in
    flight; here step 10 is decided when the extension proposes step 11 (docs/scaling.md says so)."""
    run_dir = _run(capsys, tmp_path / "r", 10, "--workers", "2", "--levels", "1,1.5")
    before = decided_trials(run_dir)
    assert _main(capsys, "resume", str(run_dir), "--iterations", "20", "--no-progress")[0] == 0
    trials = decided_trials(run_dir)
    assert trials[:11] == before and len(trials) == 21
    assert [e["iteration"] for e in _kinds(run_dir, "trial")][11:] == list(range(11, 21))


@pytest.mark.parametrize("argv, fragment", [
    ([], "nothing to do"),
    (["--iterations", "10"], "does not extend it"),
    (["--iterations", "4"], "does not extend it"),
    (["--max-cost", "2"], "nothing to raise"),
])
def test_a_finished_run_not_extended_is_exit_0_and_changes_nothing(tmp_path: Path, capsys: pytest.CaptureFixture,
                                                                     argv: list[str], fragment: str) -> None:
    run_dir = _run(capsys, tmp_path / "r", 10)
    before = _files(run_dir)
    code, err = _main(capsys, "resume", str(run_dir), *argv)
    assert code == 0 and fragment in err and "evolve report" in err
    assert _files(run_dir) == before


@pytest.mark.parametrize("value, fragment", [("0", "invalid iterations"), ("-3", "invalid iterations"),
                                             ("1000001", "invalid iterations")])
def test_iterations_the_config_cannot_hold_are_usage_errors_that_change_nothing(
        tmp_path: Path, capsys: pytest.CaptureFixture, value: str, fragment: str) -> None:
    run_dir = _run(capsys, tmp_path / "r", 3)
    before = _files(run_dir)
    code, err = _main(capsys, "resume", str(run_dir), "--iterations", value)
    assert code == 2 and fragment in err and "Traceback" not in err
    assert _files(run_dir) == before
    with pytest.raises(SystemExit) as exc:
        main(["resume", str(run_dir), "--iterations", "ten"])
    assert exc.value.code == 2 and _files(run_dir) == before


def test_extending_what_is_not_a_run_is_the_usual_error(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    code, err = _main(capsys, "resume", str(tmp_path / "missing"), "--iterations", "5")
    assert code == 2 and "is not a directory" in err
    code, err = _main(capsys, "resume", str(tmp_path), "--iterations", "5")
    assert code == 2 and "not a run directory" in err


def test_an_unfinished_run_extended_goes_on_to_the_new_total(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    run_dir = interrupted_run(tmp_path, steps=5, iterations=10)  # function:branin, seed 2, checkpoint running
    before = _files(run_dir)
    code, err = _main(capsys, "resume", str(run_dir), "--iterations", "8")
    assert code == 0 and "does not raise" in err and _files(run_dir) == before  # a total is never lowered

    code, err = _main(capsys, "resume", str(run_dir), "--iterations", "15", "--no-progress")
    assert code == 0, err
    straight = tmp_path / "straight"
    assert _main(capsys, "run", "--domain", "function:branin", "--seed", "2", "--iterations", "15",
                 "--run-dir", str(straight), "--no-progress")[0] == 0
    assert decided_trials(run_dir) == decided_trials(straight)
    (extended,) = _kinds(run_dir, "run_extended")
    assert (extended["step"], extended["iterations_before"], extended["iterations"]) == (5, 10, 15)


def test_a_crash_after_the_config_is_written_leaves_an_extension_plain_resume_starts(
        tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    """The process died right after config.json was replaced: the checkpoint still says completed."""
    straight = _run(capsys, tmp_path / "straight", 20)
    run_dir = _run(capsys, tmp_path / "r", 10)
    store = RunStore.open(run_dir)
    store.replace_config(plan_resume(store, iterations=20).config)
    assert json.loads((run_dir / "checkpoint.json").read_text())["status"] == "completed"

    code, err = _main(capsys, "resume", str(run_dir), "--no-progress")
    assert code == 0 and "continuing its extension to 20" in err
    assert decided_trials(run_dir) == decided_trials(straight)
    assert len(_kinds(run_dir, "run_extended")) == 1


def test_a_crash_before_the_extension_is_checkpointed_traces_it_once(tmp_path: Path, capsys: pytest.CaptureFixture,
                                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    """The process died after writing run_extended but before the checkpoint that counts it."""
    straight = _run(capsys, tmp_path / "straight", 20)
    run_dir = _run(capsys, tmp_path / "r", 10)
    original = InnerLoop._checkpoint

    def die(self: InnerLoop, *args: Any, **kwargs: Any) -> None:
        raise RuntimeError("killed")

    monkeypatch.setattr(InnerLoop, "_checkpoint", die)
    with pytest.raises(RuntimeError, match="killed"):
        main(["resume", str(run_dir), "--iterations", "20", "--no-progress"])
    capsys.readouterr()
    assert len(_kinds(run_dir, "run_extended")) == 1  # written, not yet counted by a checkpoint
    assert json.loads((run_dir / "checkpoint.json").read_text())["status"] == "completed"

    monkeypatch.setattr(InnerLoop, "_checkpoint", original)
    code, err = _main(capsys, "resume", str(run_dir), "--no-progress")
    assert code == 0, err
    assert decided_trials(run_dir) == decided_trials(straight)
    assert len(_kinds(run_dir, "run_extended")) == 1 and len(_kinds(run_dir, "run_resumed")) == 1
    assert _kinds(run_dir, "run_resumed")[0]["discarded_events"] == 2  # the dead attempt's two lines, cut


def test_an_extension_in_progress_reads_as_running_with_the_new_total(tmp_path: Path, capsys: pytest.CaptureFixture,
                                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    run_dir = _run(capsys, tmp_path / "r", 10)
    totals: list[int] = []
    init, update = RunProgress.__init__, RunProgress.update

    def record_total(self: RunProgress, total: int, *args: Any, **kwargs: Any) -> None:
        totals.append(total)
        init(self, total, *args, **kwargs)

    def interrupt_at_15(self: RunProgress, done: int, *args: Any) -> None:
        update(self, done, *args)
        if done == 15:
            raise KeyboardInterrupt

    monkeypatch.setattr(RunProgress, "__init__", record_total)
    monkeypatch.setattr(RunProgress, "update", interrupt_at_15)
    code, err = _main(capsys, "resume", str(run_dir), "--iterations", "20", "--no-progress")
    assert code == 130 and "evolve resume" in err
    assert totals == [21]  # the bar counts to the new total

    header = run_snapshot(run_dir, None, None)["run"]
    assert header["live"] and header["status"] == "running" and header["iterations"] == 20
    assert header["steps_done"] == 15 and header["trials"] == 15
    code, out = _main(capsys, "report", str(run_dir))
    assert code == 0 and "not finished (resumable)" in out and "10 -> 20 iterations" in out

    monkeypatch.setattr(RunProgress, "update", update)
    assert _main(capsys, "resume", str(run_dir), "--no-progress")[0] == 0
    header = run_snapshot(run_dir, None, None)["run"]
    assert not header["live"] and header["status"] == "completed" and header["trials"] == 21
    assert len(decided_trials(run_dir)) == 21


def _spend(run_dir: Path, *, budget: float, spent: float) -> None:
    """Give a finished offline run an LLM budget and a recorded spend, as an LLM run's checkpoint holds it."""
    store = RunStore.open(run_dir)
    config = store.config()
    store.replace_config(config.model_copy(update={"llm": config.llm.model_copy(update={"max_cost_usd": budget})}))
    checkpoint = json.loads((run_dir / "checkpoint.json").read_text())
    checkpoint["agent_state"]["client"] = {"calls": 9, "prompt_tokens": 1, "completion_tokens": 1, "cost_usd": spent}
    (run_dir / "checkpoint.json").write_text(json.dumps(checkpoint))


def test_an_extension_past_a_spent_llm_budget_is_refused_naming_the_flag_that_raises_it(
        tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    run_dir = _run(capsys, tmp_path / "r", 5)
    _spend(run_dir, budget=1.0, spent=1.25)
    before = _files(run_dir)
    code, err = _main(capsys, "resume", str(run_dir), "--iterations", "10")
    assert code == 2 and "spent $1.2500" in err and "--max-cost USD" in err and "nothing was changed" in err
    assert _files(run_dir) == before
    code, err = _main(capsys, "resume", str(run_dir), "--iterations", "10", "--max-cost", "1")
    assert code == 2 and "does not raise it" in err and _files(run_dir) == before
    code, err = _main(capsys, "resume", str(run_dir), "--max-cost", "3")
    assert code == 0 and "alone does not extend" in err and _files(run_dir) == before

    code, err = _main(capsys, "resume", str(run_dir), "--iterations", "10", "--max-cost", "3", "--no-progress")
    assert code == 0 and "raising" in err and "$1 to $3" in err
    config = json.loads((run_dir / "config.json").read_text())
    assert config["llm"]["max_cost_usd"] == 3 and config["iterations"] == 10
    assert {k: config["extensions"][-1][k] for k in ("max_cost_before", "max_cost_usd")} == {
        "max_cost_before": 1.0, "max_cost_usd": 3.0}
    assert len(decided_trials(run_dir)) == 11


def test_a_run_stopped_by_its_llm_budget_goes_on_once_max_cost_raises_it(tmp_path: Path,
                                                                         capsys: pytest.CaptureFixture) -> None:
    run_dir = interrupted_run(tmp_path, steps=4, iterations=8)  # checkpoint `running`, as a budget stop leaves it
    _spend(run_dir, budget=1.0, spent=1.0)
    code, err = _main(capsys, "resume", str(run_dir), "--max-cost", "2.5", "--no-progress")
    assert code == 0 and "from $1 to $2.5" in err
    config = json.loads((run_dir / "config.json").read_text())
    assert config["llm"]["max_cost_usd"] == 2.5 and config["iterations"] == 8
    (extended,) = _kinds(run_dir, "run_extended")
    assert (extended["iterations_before"], extended["iterations"], extended["max_cost_before"],
            extended["max_cost_usd"]) == (8, 8, 1.0, 2.5)
    assert len(decided_trials(run_dir)) == 9
    code, out = _main(capsys, "report", str(run_dir))
    assert code == 0 and "LLM budget $1 -> $2.5" in out


def test_resume_help_says_what_each_status_and_flag_does(capsys: pytest.CaptureFixture) -> None:
    with pytest.raises(SystemExit):
        main(["resume", "--help"])
    shown = capsys.readouterr().out
    assert "--iterations N" in shown and "--max-cost USD" in shown
    assert "completed" in shown and "fail-fast" in shown and "nothing to do" in shown and "run_extended" in shown
