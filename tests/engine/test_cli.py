"""Bad input gets one clear message naming the fix, the right exit code, and no run directory."""

from __future__ import annotations

from pathlib import Path

import pytest

from bilevel_evolve.engine.cli.main import main


def _run(capsys: pytest.CaptureFixture, *argv: str) -> tuple[int, str]:
    code = main(list(argv))
    captured = capsys.readouterr()
    return code, captured.err


@pytest.mark.parametrize("argv, fragment", [
    (["run", "--domain", "nosuch:thing"], "function:"),
    (["run", "--domain", "function:nosuch"], "nosuch"),
    (["run", "--domain", "function:branin", "--levels", "1.5"], "levels must include 1"),
    (["run", "--domain", "function:branin", "--agent", "wizard"], "unknown agent"),
    (["run"], "--domain is required"),
])
def test_bad_run_arguments_are_usage_errors_and_write_nothing(tmp_path: Path, capsys: pytest.CaptureFixture,
                                                               argv: list[str], fragment: str) -> None:
    run_dir = tmp_path / "run"
    code, err = _run(capsys, *argv, "--run-dir", str(run_dir), "--no-progress")
    assert code == 2 and fragment in err and "Traceback" not in err
    assert not run_dir.exists()


def test_a_malformed_objective_file_names_the_file(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    bad = tmp_path / "objective.py"
    bad.write_text("SPACE = {'x': {'type': 'float', 'low': 0, 'high': 1, 'default': 3}}\n"
                   "def objective(p):\n    return p['x']\n")
    code, err = _run(capsys, "run", "--domain", f"function:{bad}", "--run-dir", str(tmp_path / "r"))
    assert code == 2 and "objective.py" in err and "outside" in err and "Traceback" not in err


def test_missing_api_key_is_a_usage_error_naming_the_variable(tmp_path: Path, capsys: pytest.CaptureFixture,
                                                              monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    monkeypatch.chdir(tmp_path)
    code, err = _run(capsys, "run", "--domain", "function:branin", "--agent", "llm", "--run-dir", str(tmp_path / "r"))
    assert code == 2 and "OPENAI_API_KEY" in err and not (tmp_path / "r").exists()


@pytest.mark.parametrize("command", ["resume", "report"])
def test_a_directory_that_is_not_a_run_is_refused(tmp_path: Path, capsys: pytest.CaptureFixture,
                                                   command: str) -> None:
    code, err = _run(capsys, command, str(tmp_path))
    assert code == 2 and "not a run directory" in err


def test_resuming_a_finished_run_is_nothing_to_do_and_leaves_the_trace_alone(tmp_path: Path,
                                                                             capsys: pytest.CaptureFixture) -> None:
    run_dir = tmp_path / "r"
    assert main(["run", "--domain", "function:branin", "--iterations", "3", "--run-dir", str(run_dir),
                 "--no-progress"]) == 0
    capsys.readouterr()
    trace = (run_dir / "trace.jsonl").read_bytes()
    code, err = _run(capsys, "resume", str(run_dir))
    assert code == 0 and "already ended" in err and "nothing to do" in err and "evolve report" in err
    assert (run_dir / "trace.jsonl").read_bytes() == trace


def test_an_existing_run_directory_is_never_overwritten(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    run_dir = tmp_path / "r"
    run_dir.mkdir()
    (run_dir / "keep.txt").write_text("mine")
    code, err = _run(capsys, "run", "--domain", "function:branin", "--run-dir", str(run_dir))
    assert code == 2 and "evolve resume" in err and (run_dir / "keep.txt").read_text() == "mine"


def test_report_writes_a_plot(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    run_dir = tmp_path / "r"
    assert main(["run", "--domain", "function:ackley", "--iterations", "5", "--run-dir", str(run_dir),
                 "--no-progress"]) == 0
    out = capsys.readouterr().out
    assert "change vs baseline" in out
    assert (run_dir / "plots" / "metric.png").stat().st_size > 1000


@pytest.mark.parametrize("price, fragment", [(None, "--price IN,OUT"), ("cheap", "is not 'IN,OUT'")])
def test_a_cost_budget_on_an_unpriced_model_needs_a_valid_price(tmp_path: Path, capsys: pytest.CaptureFixture,
                                                                monkeypatch: pytest.MonkeyPatch, price: str | None,
                                                                fragment: str) -> None:
    monkeypatch.setenv("MY_KEY", "sk-test")
    argv = ["run", "--domain", "function:branin", "--agent", "llm", "--provider", "mine", "--base-url",
            "http://127.0.0.1:9/v1", "--api-key-env", "MY_KEY", "--model", "unpriced-model", "--max-cost", "1",
            "--run-dir", str(tmp_path / "r")]
    code, err = _run(capsys, *argv, *(["--price", price] if price else []))
    assert code == 2 and fragment in err and not (tmp_path / "r").exists()


def test_check_never_writes_into_the_current_directory_by_default(tmp_path: Path, capsys: pytest.CaptureFixture,
                                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    """`evolve check` reports go where --out says, under --archive, or to a temporary directory it names."""
    import argparse

    from bilevel_evolve.engine.cli.main import _check_report_dir

    monkeypatch.chdir(tmp_path)
    mech = Path("m.py")
    named = _check_report_dir(argparse.Namespace(report_dir=tmp_path / "out", archive=None, mechanism=mech))
    assert named == tmp_path / "out"
    archived = _check_report_dir(argparse.Namespace(report_dir=None, archive=tmp_path / "arch", mechanism=mech))
    assert archived == tmp_path / "arch" / "checks" / "m"
    temporary = _check_report_dir(argparse.Namespace(report_dir=None, archive=None, mechanism=mech))
    assert temporary.is_dir() and tmp_path not in temporary.parents and temporary.name.startswith("evolve-check-m-")
    assert not (tmp_path / "runs").exists()
    temporary.rmdir()


def test_run_help_lists_every_domain_form(capsys: pytest.CaptureFixture) -> None:
    from bilevel_evolve.domains.registry import list_domains

    with pytest.raises(SystemExit):
        main(["run", "--help"])
    shown = capsys.readouterr().out
    assert all(form in shown for form, _ in list_domains())
