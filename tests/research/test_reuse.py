"""A shared archive makes a run start where earlier runs' learning stopped: what they proved is injected
before anything new, with its interval in the trace, the archive and `evolve report`; --no-reuse and a
fresh archive decide as before; runs never share an id in one archive; the need trigger calls sessions
when the trace asks for one. Real gate, real box, real archive."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from bilevel_evolve.engine.cli.main import main
from bilevel_evolve.engine.outer.research.recipes import get_recipe, recipe_source
from bilevel_evolve.engine.run.store import RunStore
from bilevel_evolve.ground.contract.source import MechanismSource
from bilevel_evolve.mechanism_archive.archive import Archive
from bilevel_evolve.mechanism_archive.effects import scope_of
from bilevel_evolve.sandbox.gate import check_source

pytestmark = pytest.mark.usefixtures("sandbox_ready")

BRANIN = ["--domain", "function:branin", "--iterations", "10", "--levels", "1,2", "--level2-every", "4",
          "--seed", "2", "--no-progress"]


def _run(run_dir: Path, archive: Path, *extra: str) -> list:
    assert main(["run", *BRANIN, "--run-dir", str(run_dir), "--archive", str(archive), *extra]) == 0
    return RunStore.open(run_dir).events()


def _proven_archive(root: Path, recipe: str = "restart") -> str:
    """An archive in which three earlier runs on branin measured `recipe` helping, steadily."""
    from bilevel_evolve.domains.registry import DomainOptions, load_domain

    space = load_domain("function:branin", DomainOptions()).space.to_dict()
    source = MechanismSource(recipe_source(get_recipe(recipe)))
    with Archive.open(root, create=True) as archive:
        gate = check_source(source)
        mid = archive.add(source, name=recipe, class_name=gate.mechanism_class or recipe, origin="offline-recipe",
                          run_id="earlier-1", session={"recipe": recipe}, gate_report=gate, status="accepted").id
        for i, score in enumerate((0.30, 0.34, 0.32), start=1):
            archive.record_effect(mid, run_id=f"earlier-{i}", effect={
                "verdict": "improved", "score": score, "scope": scope_of("function:branin", space).to_json()})
    return mid


def _sessions(events: list) -> list[tuple]:
    return [(e.iteration, e.chosen, tuple((c["name"], c["status"]) for c in e.candidates))
            for e in events if e.kind == "research_session"]


def _trials(events: list) -> list[tuple]:
    return [(e.step, e.params, e.value, e.status) for e in events if e.kind == "trial"]


def test_a_run_on_an_archive_with_a_proven_mechanism_injects_it_first(
        tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    archive_dir = tmp_path / "archive"
    proven = _proven_archive(archive_dir)
    events = _run(tmp_path / "run", archive_dir)
    first = next(e for e in events if e.kind == "research_session")
    (reused,) = first.candidates
    assert reused["id"] == proven and reused["reused"] is True and first.chosen == "reuse: restart"
    assert reused["estimate"]["runs"] == 3 and reused["estimate"]["proven"] is True
    assert reused["estimate"]["low"] > 0 and "proven on function:branin" in reused["reason"]
    injected = next(e for e in events if e.kind == "injection")
    assert injected.mechanism == proven and injected.step == first.step
    run_id = RunStore.open(tmp_path / "run").config().run_id
    with Archive.open(archive_dir) as archive:
        assert archive.status_in_run(proven, run_id) in ("accepted", "dead", "rolled-back")
        reasons = [e.reason for e in archive.events(mechanism_id=proven, run_id=run_id) if e.status == "accepted"]
        assert reasons and reasons[0].startswith("reused: proven")
        # this run measured it again: a fourth run for its estimate on branin
        assert archive.get(proven).summary.estimate is not None
        assert archive.get(proven).summary.estimate.runs == 4
    capsys.readouterr()
    monkeypatch.setenv("COLUMNS", "400")  # one table row a line
    assert main(["report", str(tmp_path / "run")]) == 0
    out = capsys.readouterr().out
    assert "reused: proven" in out and "[+0." in out and "over 3 runs" in out


def test_no_reuse_and_a_fresh_archive_decide_alike(tmp_path: Path) -> None:
    _proven_archive(tmp_path / "remembering")
    ignoring = _run(tmp_path / "ignoring", tmp_path / "remembering", "--no-reuse")
    fresh = _run(tmp_path / "fresh", tmp_path / "fresh-archive")
    assert not any(c.get("reused") for e in ignoring if e.kind == "research_session" for c in e.candidates)
    assert _sessions(ignoring) == _sessions(fresh) and _trials(ignoring) == _trials(fresh)


def test_two_runs_of_one_name_get_two_ids_in_one_archive(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    archive_dir = tmp_path / "archive"
    first = tmp_path / "a" / "run"
    second = tmp_path / "b" / "run"
    _run(first, archive_dir)
    capsys.readouterr()
    _run(second, archive_dir)
    assert "run id run is taken" in capsys.readouterr().err
    ids = [RunStore.open(p).config().run_id for p in (first, second)]
    assert ids == ["run", "run-2"]
    assert json.loads((second / "trace.jsonl").read_text().splitlines()[0])["run_id"] == "run-2"
    with Archive.open(archive_dir) as archive:
        assert {e.run_id for e in archive.events()} == {"run", "run-2"}


def test_the_need_trigger_calls_a_session_when_the_search_repeats_itself(tmp_path: Path) -> None:
    events = _run(tmp_path / "run", tmp_path / "archive", "--level2-trigger", "need", "--level2-every", "8",
                  "--iterations", "12")
    sessions = [e for e in events if e.kind == "research_session"]
    assert sessions and sessions[0].iteration < 8  # before the every-8 trigger would have
    assert all(e.diagnosis.get("trigger") for e in sessions)
    every = _run(tmp_path / "every", tmp_path / "archive2", "--level2-every", "8", "--iterations", "12")
    assert [e.iteration for e in every if e.kind == "research_session"] == [8]
    assert not any("trigger" in e.diagnosis for e in every if e.kind == "research_session")


def test_a_space_with_choices_has_its_first_session_at_the_first_iteration(tmp_path: Path) -> None:
    events = _run(tmp_path / "run", tmp_path / "archive", "--domain", "function:toytrain")
    sessions = [e for e in events if e.kind == "research_session"]
    assert [e.iteration for e in sessions] == [1, 4, 8]  # then every M, as before
    assert "choices or ints of few values (act)" in sessions[0].diagnosis["trigger"]
    assert [(c["name"], c["status"]) for c in sessions[0].candidates] == [("parzen", "accepted")]
    first_moves = [e for e in events if e.kind == "trial" and 1 <= e.iteration <= 4]
    assert all(e.source != "offline" for e in first_moves)  # its random start, not the proposer's local moves


@pytest.mark.slow
def test_a_run_killed_in_its_reuse_sessions_resumes_to_the_same_decisions(tmp_path: Path) -> None:
    from kill_resume import reference_run, run_with_kills

    common = [*BRANIN, "--iterations", "14"]
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    _proven_archive(tmp_path / "ref-archive")
    reference_run([*common, "--archive", str(tmp_path / "ref-archive")], tmp_path / "ref", env=env, cwd=tmp_path)
    reference = RunStore.open(tmp_path / "ref").events()
    sessions = [e.step for e in reference if e.kind == "research_session"]
    assert any(c.get("reused") for e in reference if e.kind == "research_session" for c in e.candidates)
    _proven_archive(tmp_path / "archive")  # the same memory, in an archive of its own
    kills = run_with_kills([*common, "--archive", str(tmp_path / "archive")], tmp_path / "killed", env=env,
                           cwd=tmp_path, kill_after=sessions)
    assert kills, "no kill landed mid-run"
    killed = RunStore.open(tmp_path / "killed").events()
    assert _trials(killed) == _trials(reference) and _sessions(killed) == _sessions(reference)
    with Archive.open(tmp_path / "archive") as archive:
        assert archive.verify().ok
