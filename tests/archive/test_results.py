"""The results table: what a run found in its task, read only by the runs that claimed their ids after it was
recorded; an index of format 2 gains the table when opened."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest
from archive_support import add, raw_db

from bilevel_evolve.ground.errors import UsageError
from bilevel_evolve.mechanism_archive.archive import Archive
from bilevel_evolve.mechanism_archive.effects import Scope
from bilevel_evolve.mechanism_archive.models import FORMAT_VERSION

HERE = Scope("function:sphere", "sig-a", "shape-a")
OTHER_SPACE = Scope("function:sphere", "sig-b", "shape-a")


def _result(value: float) -> dict[str, object]:
    return {"direction": "minimize", "points": [{"params": {"x": value}, "value": value}]}


def test_a_run_reads_the_results_recorded_before_an_event_its_horizon_includes(tmp_path: Path) -> None:
    with Archive.open(tmp_path / "a", create=True) as archive:
        assert archive.results(HERE, horizon=10**9) == []
        first = archive.claim_run("r1", scope=HERE).run_id
        archive.record_result(first, HERE, _result(1.0), key=f"{first}:result")
        archive.record_result(first, OTHER_SPACE, _result(9.0), key=f"{first}:other")
        no_event_since = archive.claim_run("r2", scope=HERE)
        assert archive.results(HERE, horizon=no_event_since.horizon) == []  # nothing tells it came before
        add(archive, "a", run_id=first)  # the run's last events (its final effects) come after its result
        ablation_horizon = archive.last_event()  # one ablation: its runs all read the archive as of here
        second = archive.claim_run("r3", scope=HERE).run_id
        add(archive, "b", run_id=second)
        archive.record_result(second, HERE, _result(0.5), key=f"{second}:result")
        add(archive, "c", run_id=second)
        later = archive.claim_run("r4", scope=HERE)

        assert [r.run_id for r in archive.results(HERE, horizon=ablation_horizon)] == ["r1"]
        assert [r.payload["points"][0]["value"] for r in archive.results(HERE, horizon=later.horizon)] == [1.0, 0.5]
        assert [r.run_id for r in archive.results(OTHER_SPACE, horizon=later.horizon)] == ["r1"]


def test_a_result_is_recorded_once_per_key_and_a_key_is_one_runs(tmp_path: Path) -> None:
    with Archive.open(tmp_path / "a", create=True) as archive:
        run = archive.claim_run("r1", scope=HERE).run_id
        assert archive.record_result(run, HERE, _result(1.0), key="r1:result") is not None
        assert archive.record_result(run, HERE, _result(2.0), key="r1:result") is None  # a resumed run
        add(archive, "a", run_id=run)
        assert [r.payload for r in archive.results(HERE, horizon=archive.last_event())] == [_result(1.0)]
        with pytest.raises(UsageError, match="already names a result of run r1"):
            archive.record_result("r2", HERE, _result(3.0), key="r1:result")


def test_a_result_that_json_cannot_hold_is_refused_and_non_finite_values_are_dropped(tmp_path: Path) -> None:
    with Archive.open(tmp_path / "a", create=True) as archive:
        run = archive.claim_run("r1", scope=HERE).run_id
        with pytest.raises(UsageError, match="result"):
            archive.record_result(run, HERE, {"points": {1, 2}}, key="r1:bad")
        archive.record_result(run, HERE, {"points": [{"params": {"x": 1.0}, "value": float("nan")}]}, key="r1:ok")
        add(archive, "a", run_id=run)
        assert archive.results(HERE, horizon=archive.last_event())[0].payload["points"][0]["value"] is None


def test_results_are_append_only_and_verify_names_a_corrupted_one(tmp_path: Path) -> None:
    root = tmp_path / "a"
    with Archive.open(root, create=True) as archive:
        run = archive.claim_run("r1", scope=HERE).run_id
        archive.record_result(run, HERE, _result(1.0), key="r1:result")
    conn = sqlite3.connect(root / "index.sqlite", isolation_level=None)
    with pytest.raises(sqlite3.DatabaseError, match="append-only"):
        conn.execute("DELETE FROM results")
    conn.close()
    conn = raw_db(root)
    conn.execute("INSERT INTO results (ts, run_id, domain, space_signature, after_event, payload) "
                 "VALUES ('t', 'r1', 'd', 's', 0, 'not json')")
    conn.close()
    with Archive.open(root) as archive:
        problems = [p.render() for p in archive.verify().problems]
    assert problems == ["[bad-result] result #2 payload is not a JSON object"]


def test_a_format_2_archive_gains_the_results_table_on_open(tmp_path: Path) -> None:
    root = tmp_path / "a"
    with Archive.open(root, create=True) as archive:
        mech = add(archive, "a", run_id="r-old")
        archive.claim_run("r-old", scope=HERE)
    conn = raw_db(root)
    conn.execute("DROP TABLE results")
    conn.execute("PRAGMA user_version = 2")
    conn.close()
    (root / "archive.json").write_text(json.dumps({"format_version": 2}) + "\n")

    with Archive.open(root) as archive:
        assert [s.id for s in archive.list()] == [mech.id]
        assert archive.verify().ok
        run = archive.claim_run("r-new", scope=HERE).run_id
        archive.record_result(run, HERE, _result(1.0), key="r-new:result")
        add(archive, "b", run_id=run)
        assert [r.run_id for r in archive.results(HERE, horizon=archive.claim_run("r-next").horizon)] == ["r-new"]
    assert json.loads((root / "archive.json").read_text())["format_version"] == FORMAT_VERSION
    conn = sqlite3.connect(root / "index.sqlite")
    assert conn.execute("PRAGMA user_version").fetchone()[0] == FORMAT_VERSION
    with pytest.raises(sqlite3.DatabaseError, match="append-only"):
        conn.execute("UPDATE results SET run_id = 'x'")
    conn.close()
