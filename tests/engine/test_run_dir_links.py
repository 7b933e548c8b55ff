"""Issue 15, item 5 (SANDBOX_TESTS case 36): run and archive directories never follow a symbolic link out
of themselves for writing or deleting."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from interrupted_run import interrupted_run

from bilevel_evolve.engine.cli.main import main
from bilevel_evolve.ground.contract.source import MechanismSource
from bilevel_evolve.ground.errors import EXIT_USAGE, EvolveError, UsageError
from bilevel_evolve.mechanism_archive.archive import Archive


def _interrupted_run(tmp_path: Path, steps: int = 3) -> Path:
    return interrupted_run(tmp_path, steps=steps, iterations=6)


def _precious(tmp_path: Path) -> Path:
    """A folder outside the run laid out like trials/: the next step's folder holds a file."""
    outside = tmp_path / "outside"
    (outside / "00003").mkdir(parents=True)
    (outside / "00003" / "precious.txt").write_text("keep me")
    return outside


def test_resume_through_a_trials_link_deletes_nothing_outside_the_run(tmp_path: Path,
                                                                       capsys: pytest.CaptureFixture[str]) -> None:
    run_dir = _interrupted_run(tmp_path)
    outside = _precious(tmp_path)
    os.rename(run_dir / "trials", tmp_path / "real-trials")
    (run_dir / "trials").symlink_to(outside)
    assert main(["resume", str(run_dir), "--no-progress"]) == EXIT_USAGE
    assert (outside / "00003" / "precious.txt").read_text() == "keep me"
    assert "trials is a symbolic link" in capsys.readouterr().err


def test_a_trial_folder_that_is_a_link_is_refused_too(tmp_path: Path) -> None:
    run_dir = _interrupted_run(tmp_path)
    outside = _precious(tmp_path)
    (run_dir / "trials" / "00003").symlink_to(outside / "00003")
    assert main(["resume", str(run_dir), "--no-progress"]) == EXIT_USAGE
    assert (outside / "00003" / "precious.txt").exists()


@pytest.mark.parametrize("entry", ["trace.jsonl", "checkpoint.json", "log.jsonl"])
def test_a_link_among_the_run_directory_entries_is_refused_before_anything_is_written(
        tmp_path: Path, entry: str) -> None:
    run_dir = _interrupted_run(tmp_path)
    target = tmp_path / f"outside-{entry}"
    original = run_dir / entry
    target.write_bytes(original.read_bytes() if original.exists() else b"")
    before = target.read_bytes()
    original.unlink(missing_ok=True)
    original.symlink_to(target)
    assert main(["resume", str(run_dir), "--no-progress"]) == EXIT_USAGE
    assert main(["report", str(run_dir)]) == EXIT_USAGE
    assert target.read_bytes() == before


def test_the_report_replaces_a_linked_plot_instead_of_writing_through_it(tmp_path: Path) -> None:
    run_dir = _interrupted_run(tmp_path)
    (run_dir / "plots").mkdir()
    victim = tmp_path / "victim.txt"
    victim.write_text("keep me")
    (run_dir / "plots" / "metric.png").symlink_to(victim)
    assert main(["report", str(run_dir)]) == 0
    assert victim.read_text() == "keep me"
    plot = run_dir / "plots" / "metric.png"
    assert not plot.is_symlink() and plot.read_bytes().startswith(b"\x89PNG")


def test_an_archive_whose_temp_folder_is_a_link_is_refused_and_nothing_outside_is_cleared(tmp_path: Path) -> None:
    root = tmp_path / "archive"
    with Archive.open(root, create=True) as archive:
        archive.add(MechanismSource.from_text("class M:\n    name = 'm'\n"), name="m", class_name="M",
                    origin="user", run_id="r", status="accepted")
    outside = tmp_path / "outside"
    (outside / "stale-looking").mkdir(parents=True)
    (outside / "stale-looking" / "precious.txt").write_text("keep me")
    (root / ".tmp").rmdir() if (root / ".tmp").exists() else None
    (root / ".tmp").symlink_to(outside)
    with pytest.raises(UsageError, match="symbolic links"):
        Archive.open(root)
    assert (outside / "stale-looking" / "precious.txt").read_text() == "keep me"


def test_an_archive_bucket_that_is_a_link_takes_no_object(tmp_path: Path) -> None:
    root = tmp_path / "archive"
    source = MechanismSource.from_text("class M:\n    name = 'm'\n")
    outside = tmp_path / "outside"
    outside.mkdir()
    with Archive.open(root, create=True) as archive:
        (root / "objects").mkdir(exist_ok=True)
        (root / "objects" / source.sha256[:2]).symlink_to(outside)
        with pytest.raises(EvolveError, match="symbolic link"):
            archive.add(source, name="m", class_name="M", origin="user", run_id="r", status="accepted")
    assert list(outside.iterdir()) == []
