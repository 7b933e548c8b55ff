"""Users' own mechanisms: vetted like generated ones, archived as `user`, live from the first step."""

from __future__ import annotations

from pathlib import Path

import pytest

from bilevel_evolve.engine.cli.main import main
from bilevel_evolve.engine.outer.research.recipes import get_recipe, recipe_source
from bilevel_evolve.engine.run.store import RunStore
from bilevel_evolve.mechanism_archive.archive import Archive

pytestmark = pytest.mark.usefixtures("sandbox_ready")


def _write(tmp_path: Path, recipe: str) -> Path:
    path = tmp_path / f"{recipe}.py"
    path.write_bytes(recipe_source(get_recipe(recipe)))
    return path


def test_run_with_a_user_mechanism_makes_it_live_from_the_first_iteration(tmp_path: Path) -> None:
    mech = _write(tmp_path, "tabu")
    run_dir = tmp_path / "run"
    assert main(["run", "--domain", "function:branin", "--iterations", "10", "--mechanism", str(mech),
                 "--archive", str(tmp_path / "archive"), "--run-dir", str(run_dir), "--no-progress"]) == 0
    events = RunStore.open(run_dir).events()
    injection = next(e for e in events if e.kind == "injection")
    assert injection.step == 0
    hooks = [e for e in events if e.kind == "hook" and e.mechanism == injection.mechanism]
    assert {e.iteration for e in hooks} == set(range(1, 11))
    with Archive.open(tmp_path / "archive") as archive:
        record = archive.get(injection.mechanism)
        assert record.record.origin == "user"


def test_a_rejected_user_mechanism_stops_the_run_before_anything_is_written(tmp_path: Path,
                                                                            capsys: pytest.CaptureFixture) -> None:
    mech = _write(tmp_path, "gp_sklearn")
    run_dir = tmp_path / "run"
    code = main(["run", "--domain", "function:branin", "--mechanism", str(mech), "--archive",
                 str(tmp_path / "archive"), "--run-dir", str(run_dir), "--no-progress"])
    assert code == 1 and not run_dir.exists()
    assert "import of 'sklearn" in capsys.readouterr().err


def test_archive_add_vets_and_archives_without_running(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    archive_dir = str(tmp_path / "archive")
    assert main(["archive", "--archive", archive_dir, "add", str(_write(tmp_path, "bandit"))]) == 0
    assert main(["archive", "--archive", archive_dir, "add", str(_write(tmp_path, "gp_sklearn"))]) == 1
    with Archive.open(tmp_path / "archive") as archive:
        statuses = sorted((m.name, m.status) for m in archive.list())
    assert statuses == [("bandit", "accepted"), ("gp_sklearn", "rejected-static")]
