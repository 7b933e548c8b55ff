from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from archive_support import add, mechanism_source, raw_db

from bilevel_evolve.ground.errors import EvolveError, UsageError
from bilevel_evolve.mechanism_archive.archive import Archive
from bilevel_evolve.mechanism_archive.models import FORMAT_VERSION


def _kinds(archive: Archive) -> set[str]:
    return {p.kind for p in archive.verify().problems}


def _obj(archive: Archive, mid: str) -> Path:
    return archive.root / "objects" / mid[:2] / mid


def test_a_sound_archive_verifies_with_counts(archive: Archive) -> None:
    root = add(archive, "root")
    add(archive, "child", parents=(root.id,), status="rejected-smoke")
    archive.set_status(root.id, "dead", run_id="run-b")
    report = archive.verify()
    assert report.ok and (report.mechanisms, report.events) == (2, 3)


def test_verify_detects_a_tampered_source(archive: Archive) -> None:
    rec = add(archive, "a")
    (_obj(archive, rec.id) / "source.py").write_text(mechanism_source("a", "        return {'x': 1}"))
    problems = archive.verify().problems
    assert [(p.kind, p.mechanism_id) for p in problems] == [("tampered-source", rec.id)]
    with pytest.raises(EvolveError, match=r"corrupted: source.py does not hash to its id"):
        archive.get(rec.id)


def test_verify_detects_a_parent_link_to_a_missing_mechanism(archive: Archive) -> None:
    parent = add(archive, "parent")
    child = add(archive, "child", parents=(parent.id,))
    conn = raw_db(archive.root)
    conn.execute("DELETE FROM events WHERE mechanism_id = ?", (parent.id,))
    conn.execute("DELETE FROM mechanisms WHERE id = ?", (parent.id,))
    conn.close()
    problems = archive.verify().problems
    broken = [p for p in problems if p.kind == "broken-parent-link"]
    assert [(p.mechanism_id, parent.id[:12] in p.detail) for p in broken] == [(child.id, True)]
    assert "unindexed-object" in {p.kind for p in problems}  # the parent's files are still there


def test_verify_detects_a_parent_link_rewritten_in_the_record(archive: Archive) -> None:
    parent = add(archive, "parent")
    child = add(archive, "child", parents=(parent.id,))
    path = _obj(archive, child.id) / "record.json"
    data = json.loads(path.read_text())
    data["parents"] = ["f" * 64]
    path.write_text(json.dumps(data))
    problems = archive.verify().problems
    assert [(p.kind, p.detail) for p in problems] == [("bad-record", "record.json parents disagrees with the index")]


def test_verify_detects_a_corrupted_record_json(archive: Archive) -> None:
    rec = add(archive, "a")
    (_obj(archive, rec.id) / "record.json").write_text('{"id": "trunc')
    assert _kinds(archive) == {"bad-record"}
    with pytest.raises(EvolveError, match=r"record.json is not a valid record"):
        archive.get(rec.id)


def test_verify_detects_a_deleted_object_directory(archive: Archive) -> None:
    rec = add(archive, "a")
    add(archive, "b")
    shutil.rmtree(_obj(archive, rec.id))
    problems = archive.verify().problems
    assert [(p.kind, p.mechanism_id) for p in problems] == [("missing-object", rec.id)]
    with pytest.raises(EvolveError, match=r"corrupted: its directory objects/\w\w/\w+ is missing"):
        archive.get(rec.id)


def test_verify_detects_events_of_unknown_mechanisms_and_bad_statuses(archive: Archive) -> None:
    rec = add(archive, "a")
    conn = raw_db(archive.root)
    conn.execute("INSERT INTO events (ts, mechanism_id, run_id, kind, status, payload) VALUES "
                 "('t', ?, 'r', 'status', 'accepted', '{}')", ("e" * 64,))
    conn.execute("INSERT INTO events (ts, mechanism_id, run_id, kind, status, payload) VALUES "
                 "('t', ?, 'r', 'status', 'promoted', 'not json')", (rec.id,))
    conn.close()
    problems = archive.verify().problems
    assert {p.kind for p in problems} == {"orphan-event", "bad-event"}
    assert len([p for p in problems if p.kind == "bad-event"]) == 2


def test_verify_detects_a_report_that_is_not_json_and_a_stray_file(archive: Archive) -> None:
    rec = add(archive, "a")
    (_obj(archive, rec.id) / "gate.json").write_text("[1, 2")
    (archive.root / "objects" / "zz").mkdir()
    assert _kinds(archive) == {"bad-report", "stray-entry"}


def test_verify_detects_a_parent_cycle_without_hanging(archive: Archive) -> None:
    a = add(archive, "a")
    b = add(archive, "b", parents=(a.id,))
    conn = raw_db(archive.root)
    conn.execute("INSERT INTO edges (child, position, parent) VALUES (?, 0, ?)", (a.id, b.id))
    conn.close()
    assert "parent-cycle" in _kinds(archive)
    assert archive.lineage(a.id).descendants == (b.id,)


def test_an_archive_from_a_newer_format_is_a_clear_usage_error(tmp_path: Path) -> None:
    Archive.open(tmp_path / "a", create=True).close()
    (tmp_path / "a" / "archive.json").write_text(json.dumps({"format_version": FORMAT_VERSION + 1}))
    with pytest.raises(UsageError, match="written by a newer Bilevel Evolve") as err:
        Archive.open(tmp_path / "a")
    assert "upgrade" in (err.value.fix or "")


def test_an_index_from_a_newer_format_is_a_clear_usage_error(tmp_path: Path) -> None:
    Archive.open(tmp_path / "a", create=True).close()
    conn = raw_db(tmp_path / "a")
    conn.execute("PRAGMA user_version = 7")
    conn.close()
    with pytest.raises(UsageError, match="format 7"):
        Archive.open(tmp_path / "a")


def test_a_corrupted_format_marker_is_a_clear_error(tmp_path: Path) -> None:
    Archive.open(tmp_path / "a", create=True).close()
    (tmp_path / "a" / "archive.json").write_text("{garbage")
    with pytest.raises(EvolveError, match=r"archive.json is unreadable"):
        Archive.open(tmp_path / "a")


def test_an_index_that_is_not_sqlite_is_a_clear_error(tmp_path: Path) -> None:
    Archive.open(tmp_path / "a", create=True).close()
    (tmp_path / "a" / "index.sqlite").write_bytes(b"this is not a database" * 100)
    with pytest.raises(EvolveError, match=r"index .* cannot be opened"):
        Archive.open(tmp_path / "a")
