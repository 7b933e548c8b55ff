"""Levels 1.5 and 2 end to end: real gate, real box, real archive, live mechanisms."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from bilevel_evolve.engine.cli.main import main
from bilevel_evolve.engine.run.store import RunStore
from bilevel_evolve.ground.contract.interface import HOOKS
from bilevel_evolve.mechanism_archive.archive import Archive

pytestmark = pytest.mark.usefixtures("sandbox_ready")


def _run(tmp_path: Path, runtime: str, *extra: str) -> Path:
    run_dir = tmp_path / f"run-{runtime}"
    code = main(["run", "--domain", "function:hartmann6", "--iterations", "30", "--levels", "1,1.5,2",
                 "--archive", str(tmp_path / "archive"), "--run-dir", str(run_dir), "--mechanism-runtime",
                 runtime, "--no-progress", *extra])
    assert code == 0
    return run_dir


@pytest.fixture(scope="module")
def finished_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    tmp = tmp_path_factory.mktemp("level2")
    return _run(tmp, "container"), tmp / "archive"


def _events(run_dir: Path) -> list:
    return RunStore.open(run_dir).events()


def test_sessions_inject_mechanisms_and_the_sklearn_candidate_is_rolled_back(finished_run) -> None:
    run_dir, _ = finished_run
    events = _events(run_dir)
    sessions = [e for e in events if e.kind == "research_session"]
    assert len(sessions) >= 3
    rollbacks = [e for e in events if e.kind == "rollback"]
    sklearn = [r for r in rollbacks if r.status == "rejected-smoke" and "sklearn" in r.reason]
    assert sklearn, "the GP candidate must fail the smoke test on an image without scikit-learn"
    injected = [e for e in events if e.kind == "injection"]
    assert injected
    # the rollback kept the set the run had: the active set right after equals the one before
    before = [e for e in events[: events.index(sklearn[0])] if e.kind == "injection"]
    assert sklearn[0].active == (before[-1].active if before else ())
    assert any(e.kind == "config_changed" for e in events)  # Level 1.5 acted too


def test_every_hook_of_an_injected_mechanism_is_called(finished_run) -> None:
    run_dir, archive_dir = finished_run
    events = _events(run_dir)
    archive = Archive.open(archive_dir)
    for injection in (e for e in events if e.kind == "injection"):
        gate = archive.get(injection.mechanism).gate_report or {}
        defined = {h for h in gate.get("hooks", ()) if h in HOOKS}
        assert defined, f"{injection.name}: the gate report names no hooks"
        called = {e.hook for e in events if e.kind == "hook" and e.mechanism == injection.mechanism}
        assert called == defined, f"{injection.name}: defined {defined}, called {called}"


def test_accepted_mechanisms_that_changed_nothing_are_marked_dead(finished_run) -> None:
    run_dir, archive_dir = finished_run
    events = _events(run_dir)
    archive = Archive.open(archive_dir)
    run_id = RunStore.open(run_dir).config().run_id
    for injection in (e for e in events if e.kind == "injection"):
        changed = sum(e.changed for e in events if e.kind == "hook" and e.mechanism == injection.mechanism)
        status = archive.status_in_run(injection.mechanism, run_id)
        if changed == 0:
            assert status == "dead", f"{injection.name} changed no decision but is {status}"
        else:
            assert status in ("accepted", "rolled-back")


def test_effects_are_measured_and_archived(finished_run) -> None:
    run_dir, archive_dir = finished_run
    effects = [e for e in _events(run_dir) if e.kind == "effect"]
    assert effects and all(e.effect["verdict"] in ("improved", "neutral", "worse") for e in effects)
    archive = Archive.open(archive_dir)
    assert all(archive.get(e.mechanism).effects for e in effects)


def test_the_archive_verifies_after_the_run(finished_run) -> None:
    _, archive_dir = finished_run
    assert main(["archive", "--archive", str(archive_dir), "verify"]) == 0


def test_replay_reproduces_recorded_decisions_exactly(finished_run, capsys: pytest.CaptureFixture) -> None:
    run_dir, archive_dir = finished_run
    injected = [e for e in _events(run_dir) if e.kind == "injection"]
    for injection in injected[:2]:
        code = main(["replay", injection.mechanism[:16], "--trace", str(run_dir / "trace.jsonl"),
                     "--archive", str(archive_dir), "--json"])
        report = json.loads(capsys.readouterr().out)
        assert report["mode"] == "recorded" and report["runtime"] == "container"
        assert report["calls"] and all(c["identical"] for c in report["calls"]), report["summary"]
        assert code == 0


def test_counterfactual_replay_over_another_runs_trace(finished_run, tmp_path: Path,
                                                       capsys: pytest.CaptureFixture) -> None:
    run_dir, archive_dir = finished_run
    other = tmp_path / "other"
    assert main(["run", "--domain", "function:hartmann6", "--iterations", "6", "--seed", "5",
                 "--run-dir", str(other), "--no-progress"]) == 0
    capsys.readouterr()
    injection = next(e for e in _events(run_dir) if e.kind == "injection")
    code = main(["replay", injection.mechanism, "--trace", str(other / "trace.jsonl"), "--archive",
                 str(archive_dir), "--json"])
    report = json.loads(capsys.readouterr().out)
    assert code == 0 and report["mode"] == "counterfactual" and report["calls"]


def test_replay_of_an_unknown_id_is_a_clear_usage_error(finished_run, capsys: pytest.CaptureFixture) -> None:
    run_dir, archive_dir = finished_run
    code = main(["replay", "ffffffffffff", "--trace", str(run_dir / "trace.jsonl"), "--archive", str(archive_dir)])
    assert code == 2
    assert "ffffffffffff" in capsys.readouterr().err


BRANIN_ONLY = '''
class BraninCorner:
    name = "branin-corner"

    def propose(self, ctx):
        return {"x1": -5.0, "x2": 15.0}

MECHANISM = BraninCorner
'''


def test_replay_over_a_trace_of_another_domain_is_a_clear_error(finished_run, tmp_path: Path,
                                                                capsys: pytest.CaptureFixture) -> None:
    run_dir, archive_dir = finished_run  # a hartmann6 run: parameters x1..x6
    mech = tmp_path / "branin_corner.py"
    mech.write_text(BRANIN_ONLY)
    assert main(["archive", "--archive", str(archive_dir), "add", str(mech), "--domain", "function:branin"]) == 0
    capsys.readouterr()
    with Archive.open(archive_dir) as archive:
        mech_id = next(m.id for m in archive.list() if m.name == "branin_corner")
    code = main(["replay", mech_id, "--trace", str(run_dir / "trace.jsonl"), "--archive", str(archive_dir)])
    err = capsys.readouterr().err
    assert code == 2 and "does not fit the trace's domain" in err and "missing parameter 'x3'" in err
