"""A run on a shared archive recalls its task: the best points earlier runs on the same domain and space found
are proposed first, by a vetted recall mechanism; --no-reuse and another task recall nothing; a run killed
around its recall resumes to the same trials. Real gate, real box, real archive."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from bilevel_evolve.engine.cli.main import main
from bilevel_evolve.engine.run.store import RunStore
from bilevel_evolve.mechanism_archive.archive import Archive

pytestmark = pytest.mark.usefixtures("sandbox_ready")

BRANIN = ["--domain", "function:branin", "--iterations", "10", "--levels", "1,2", "--level2-every", "4",
          "--no-progress"]


def _run(run_dir: Path, archive: Path, *extra: str, seed: int = 2) -> list:
    assert main(["run", *BRANIN, "--seed", str(seed), "--run-dir", str(run_dir), "--archive", str(archive),
                 *extra]) == 0
    return RunStore.open(run_dir).events()


def _trials(events: list) -> list[tuple]:
    return [(e.step, e.params, e.value, e.status, e.source) for e in events if e.kind == "trial"]


def _best(events: list) -> tuple[dict, float]:
    best = min((e for e in events if e.kind == "trial" and e.status == "ok" and e.source != "baseline"),
               key=lambda e: e.value)
    return best.params, best.value


def test_a_second_run_on_the_archive_measures_the_first_runs_best_point_first(tmp_path: Path) -> None:
    archive_dir = tmp_path / "archive"
    first = _run(tmp_path / "first", archive_dir)
    assert not any(e.kind == "research_session" and e.chosen.startswith("recall") for e in first)
    best_params, best_value = _best(first)

    second = _run(tmp_path / "second", archive_dir, seed=3)
    recall = next(e for e in second if e.kind == "research_session")
    assert recall.iteration == 1 and recall.chosen == "recall: 1 points from earlier runs"
    (entry,) = recall.candidates
    assert entry["status"] == "accepted" and entry["recalled"] == [{"run": "first", "value": best_value}]
    injected = next(e for e in second if e.kind == "injection")
    assert injected.mechanism == entry["id"] and injected.iteration == 1
    trial = next(e for e in second if e.kind == "trial" and e.iteration == 1)
    assert trial.params == best_params and trial.source != "baseline"
    assert _best(second)[1] <= best_value
    # the recall counts as no session: the scientist's sessions come at the iterations they came before
    sessions = [e.iteration for e in second if e.kind == "research_session" and not e.chosen.startswith("recall")]
    assert sessions == [e.iteration for e in first if e.kind == "research_session"]

    with Archive.open(archive_dir) as archive:
        record = archive.get(entry["id"])
        assert record.record.session["family"] == "recall" and record.record.parents == ()
        assert "POINTS: list = [{" in archive.source(entry["id"]).text()
        assert archive.verify().ok
    third = _run(tmp_path / "third", archive_dir, seed=4)  # it recalls both earlier runs, never the recall itself
    (entry3,) = next(e for e in third if e.kind == "research_session").candidates
    assert {r["run"] for r in entry3["recalled"]} <= {"first", "second"} and len(entry3["recalled"]) >= 1
    assert not any(c.get("reused") for e in third if e.kind == "research_session" for c in e.candidates)


def test_no_reuse_and_another_task_recall_nothing(tmp_path: Path) -> None:
    archive_dir = tmp_path / "archive"
    _run(tmp_path / "first", archive_dir)
    ignoring = _run(tmp_path / "ignoring", archive_dir, "--no-reuse", seed=3)
    fresh = _run(tmp_path / "fresh", tmp_path / "fresh-archive", seed=3)
    assert _trials(ignoring) == _trials(fresh)
    other = _run(tmp_path / "other", archive_dir, "--domain", "function:ackley", seed=3)
    assert not any(e.kind == "research_session" and e.chosen.startswith("recall") for e in other)


@pytest.mark.slow
def test_a_run_killed_around_its_recall_resumes_to_the_same_trials(tmp_path: Path) -> None:
    from kill_resume import reference_run, run_with_kills

    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    common = [*BRANIN, "--seed", "3"]
    for name in ("ref-archive", "archive"):  # the same memory, in two archives
        _run(tmp_path / f"earlier-{name}", tmp_path / name)
    reference_run([*common, "--archive", str(tmp_path / "ref-archive")], tmp_path / "ref", env=env, cwd=tmp_path)
    reference = RunStore.open(tmp_path / "ref").events()
    recall_step = next(e.step for e in reference if e.kind == "research_session")
    kills = run_with_kills([*common, "--archive", str(tmp_path / "archive")], tmp_path / "killed", env=env,
                           cwd=tmp_path, kill_after=[recall_step, recall_step + 1])
    assert kills, "no kill landed mid-run"
    killed = RunStore.open(tmp_path / "killed").events()
    assert _trials(killed) == _trials(reference)
    with Archive.open(tmp_path / "archive") as archive:
        assert archive.verify().ok
