"""An archive written by the previous format (1: no runs table) is migrated in place, atomically, on open;
one that cannot be written is refused with the fix."""

from __future__ import annotations

import json
import os
import sqlite3
from pathlib import Path

import pytest
from archive_support import add, raw_db, run_archive_cli

from bilevel_evolve.ground.errors import UsageError
from bilevel_evolve.mechanism_archive.archive import Archive
from bilevel_evolve.mechanism_archive.models import FORMAT_VERSION


def _format_1_archive(root: Path) -> list[str]:
    """An archive as format 1 wrote it: today's tables but the runs table, user_version 1, marker 1."""
    with Archive.open(root, create=True) as archive:
        a = add(archive, "a", run_id="run-old")
        b = add(archive, "b", parents=(a.id,), run_id="run-older")
        archive.record_effect(b.id, run_id="run-old", effect={"delta": -0.5, "verdict": "improved"})
    conn = raw_db(root)
    conn.execute("DROP TABLE runs")
    conn.execute("PRAGMA user_version = 1")
    conn.close()
    (root / "archive.json").write_text(json.dumps({"format_version": 1}) + "\n")
    return [a.id, b.id]


def _version(root: Path) -> tuple[int, int]:
    conn = sqlite3.connect(root / "index.sqlite")
    try:
        return json.loads((root / "archive.json").read_text())["format_version"], conn.execute(
            "PRAGMA user_version").fetchone()[0]
    finally:
        conn.close()


def test_a_format_1_archive_is_migrated_in_place_on_open(tmp_path: Path) -> None:
    root = tmp_path / "archive"
    ids = _format_1_archive(root)
    with Archive.open(root) as archive:
        assert [s.id for s in archive.list()] == ids
        assert archive.get(ids[1]).effects["run-old"]["delta"] == -0.5
        assert archive.get(ids[1]).summary.estimates == ()  # its effect says not where it was measured
        assert archive.verify().ok
        # the runs its events name are known runs now: a new run does not take their ids
        assert archive.claim_run("run-old").run_id == "run-old-2"
        assert archive.claim_run("run-older").run_id == "run-older-2"
    assert _version(root) == (FORMAT_VERSION, FORMAT_VERSION)
    assert run_archive_cli(["archive", "--archive", str(root), "verify"]) == 0


def test_a_crash_between_index_and_marker_is_finished_by_the_next_open(tmp_path: Path) -> None:
    root = tmp_path / "archive"
    Archive.open(root, create=True).close()
    (root / "archive.json").write_text(json.dumps({"format_version": 1}) + "\n")  # the index migrated, not it
    Archive.open(root).close()
    assert _version(root) == (FORMAT_VERSION, FORMAT_VERSION)


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes through read-only permissions")
def test_a_format_1_archive_whose_index_is_read_only_is_refused_with_the_fix(tmp_path: Path) -> None:
    root = tmp_path / "archive"
    _format_1_archive(root)
    index = root / "index.sqlite"
    index.chmod(0o444)
    try:
        with pytest.raises(UsageError, match="has format 1") as err:
            Archive.open(root)
        assert "writable" in (err.value.fix or "")
    finally:
        index.chmod(0o644)
    assert _version(root) == (1, 1)  # nothing was changed
