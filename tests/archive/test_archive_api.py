from __future__ import annotations

import hashlib
import itertools
import sqlite3
from pathlib import Path

import pytest
from archive_support import BOX_OK, add, mechanism_source, object_dirs

from bilevel_evolve.ground.contract.interface import MAX_SOURCE_BYTES
from bilevel_evolve.ground.contract.source import MechanismSource
from bilevel_evolve.ground.errors import EvolveError, UsageError
from bilevel_evolve.mechanism_archive.archive import Archive


def test_mechanism_id_is_the_sha256_of_the_exact_source_bytes(archive: Archive) -> None:
    source = mechanism_source("a")
    rec = add(archive, "a")
    assert rec.id == hashlib.sha256(source.encode()).hexdigest()
    assert archive.source(rec.id) == MechanismSource(source.encode())
    assert archive.source(rec.id).sha256 == rec.id
    assert rec.source == source
    stored = archive.root / "objects" / rec.id[:2] / rec.id
    assert (stored / "source.py").read_bytes() == source.encode()
    assert {p.name for p in stored.iterdir()} == {"source.py", "record.json", "gate.json", "box.json"}


def test_get_accepts_a_unique_prefix_of_six_or_more_characters(archive: Archive) -> None:
    rec = add(archive, "a")
    assert archive.get(rec.id[:6]).id == rec.id
    assert archive.get(rec.id.upper()[:10]).id == rec.id
    with pytest.raises(UsageError, match="too short"):
        archive.get(rec.id[:5])
    with pytest.raises(UsageError, match="not a mechanism id"):
        archive.get("tabu-search")


def test_unknown_id_says_how_to_list_ids(archive: Archive) -> None:
    add(archive, "a")
    with pytest.raises(UsageError) as err:
        archive.get("0" * 64)
    assert "no mechanism" in err.value.problem and "evolve archive list" in (err.value.fix or "")


def test_ambiguous_prefix_lists_the_candidates(archive: Archive) -> None:
    seen: dict[str, str] = {}
    for i in itertools.count():  # birthday search for two sources sharing a 6-hex-digit prefix
        src = mechanism_source(str(i))
        prefix = hashlib.sha256(src.encode()).hexdigest()[:6]
        if prefix in seen:
            first, second = seen[prefix], src
            break
        seen[prefix] = src
    a = add(archive, "x", source=first)
    b = add(archive, "y", source=second)
    with pytest.raises(UsageError, match="ambiguous") as err:
        archive.get(a.id[:6])
    assert a.id[:16] in err.value.problem and b.id[:16] in err.value.problem
    assert archive.get(a.id[:7] if a.id[6] != b.id[6] else a.id).id == a.id


def test_same_source_twice_is_one_object_and_two_events(archive: Archive) -> None:
    first = add(archive, "a", run_id="run-a")
    again = add(archive, "a", run_id="run-b", name="renamed", session={"recipe": "other"})
    assert again.id == first.id
    assert len(object_dirs(archive.root)) == 1
    archived = [e for e in again.history if e.kind == "archived"]
    assert [(e.run_id, e.payload["reused"]) for e in archived] == [("run-a", False), ("run-b", True)]
    assert archived[1].payload["session"] == {"recipe": "other"}
    assert again.record.name == "m-a"  # the first archival's record stays


def test_rejected_candidates_are_archived_with_their_reports(archive: Archive) -> None:
    gate = {"ok": False, "violations": [{"line": 1, "col": 0, "rule": "import", "message": "os is not allowed"}]}
    rec = add(archive, "bad", status="rejected-static", reason="import os", gate_report=gate, box_report=None)
    got = archive.get(rec.id)
    assert got.status == "rejected-static" and got.summary.reason == "import os"
    assert got.gate_report == gate and got.box_report is None
    assert not (archive.root / "objects" / rec.id[:2] / rec.id / "box.json").exists()
    smoke = add(archive, "gp", status="rejected-smoke", reason="No module named 'sklearn'",
                box_report={**BOX_OK, "status": "FAILED", "reasons": ["No module named 'sklearn'"]})
    assert [s.status for s in archive.list()] == ["rejected-static", "rejected-smoke"]
    assert archive.get(smoke.id).box_report["reasons"] == ["No module named 'sklearn'"]


def test_status_is_per_run_and_list_shows_the_latest_event(archive: Archive) -> None:
    rec = add(archive, "a", run_id="run-a")
    archive.set_status(rec.id, "accepted", run_id="run-b")
    archive.set_status(rec.id, "rolled-back", run_id="run-b", reason="propose raised KeyError")
    archive.set_status(rec.id, "dead", run_id="run-a", reason="no hook changed a decision")
    got = archive.get(rec.id)
    assert got.status_by_run == {"run-a": "dead", "run-b": "rolled-back"}
    assert archive.status_in_run(rec.id, "run-b") == "rolled-back"
    assert archive.status_in_run(rec.id, "run-c") is None
    (summary,) = archive.list()
    assert (summary.status, summary.status_run, summary.reason) == ("dead", "run-a", "no hook changed a decision")
    assert [s.id for s in archive.list(run_id="run-b")] == [rec.id]
    assert archive.list(run_id="run-z") == []


def test_effect_and_hook_stats_are_recorded_per_run(archive: Archive) -> None:
    rec = add(archive, "a")
    archive.record_hook_stats(rec.id, run_id="run-a", stats={"propose": {"calls": 12, "changed": 4}})
    archive.record_effect(rec.id, run_id="run-a", effect={"before": 3.1, "after": 2.9, "window": 10,
                                                           "delta": -0.2, "verdict": "improved"})
    archive.record_effect(rec.id, run_id="run-b", effect={"before": 3.0, "after": float("nan"), "delta": None,
                                                           "verdict": "neutral"})
    got = archive.get(rec.id)
    assert got.hook_stats == {"run-a": {"propose": {"calls": 12, "changed": 4}}}
    assert got.effects["run-a"]["delta"] == -0.2
    assert got.effects["run-b"]["after"] is None  # NaN is stored as strict JSON null
    assert got.summary.effect_run == "run-b" and got.summary.effect_delta is None


def test_an_event_key_makes_a_repeated_call_record_once(archive: Archive) -> None:
    rec = add(archive, "a", key="run-a:7:archive")
    assert add(archive, "a", key="run-a:7:archive").history == rec.history
    assert archive.set_status(rec.id, "rolled-back", run_id="run-a", key="run-a:9:rollback") is not None
    assert archive.set_status(rec.id, "rolled-back", run_id="run-a", key="run-a:9:rollback") is None
    assert len(archive.events(mechanism_id=rec.id)) == 2


def test_an_event_key_reused_for_another_mechanism_is_refused_before_writing(archive: Archive) -> None:
    first = add(archive, "a", key="run-a:session:3:0")
    with pytest.raises(UsageError, match="already names a archived event"):
        add(archive, "b", key="run-a:session:3:0")
    with pytest.raises(UsageError, match="already names"):
        archive.set_status(first.id, "dead", run_id="run-a", key="run-a:session:3:0")
    assert [s.id for s in archive.list()] == [first.id] and len(object_dirs(archive.root)) == 1


def test_parents_must_already_be_in_the_archive(archive: Archive) -> None:
    with pytest.raises(UsageError, match="no mechanism"):
        add(archive, "child", parents=("ab" * 32,))
    assert object_dirs(archive.root) == [] and archive.list() == []


@pytest.mark.parametrize(("field", "value", "message"), [
    ("status", "kept", "status 'kept' is not one of"),
    ("origin", "gpt", "origin 'gpt' is not one of"),
    ("run_id", " ", "run_id is empty"),
    ("gate_report", {"when": object()}, "gate_report.when is a object"),
    ("session", {1: "x"}, "non-string key"),
])
def test_bad_input_is_refused_before_anything_is_written(archive: Archive, field: str, value: object,
                                                         message: str) -> None:
    with pytest.raises(UsageError, match=message):
        add(archive, "a", **{field: value})
    assert object_dirs(archive.root) == [] and archive.events() == []


def test_a_non_utf8_source_is_refused(archive: Archive) -> None:
    with pytest.raises(UsageError, match="not UTF-8"):
        archive.add(MechanismSource(b"x = '\xff'\n"), name="n", class_name="C", origin="user", run_id="r",
                    status="accepted")


def test_display_names_lose_control_characters(archive: Archive) -> None:
    rec = add(archive, "a", name="tabu\x1b[2J\nsearch" + "x" * 300)
    assert rec.name.startswith("tabu [2J search") and len(rec.name) == 200


def test_history_is_append_only_in_the_index(archive: Archive) -> None:
    add(archive, "a")
    conn = sqlite3.connect(archive.root / "index.sqlite")
    for sql in ("UPDATE events SET status = 'accepted'", "DELETE FROM events", "DELETE FROM mechanisms"):
        with pytest.raises(sqlite3.IntegrityError, match="append-only"):
            conn.execute(sql)
    conn.close()


def test_lineage_walks_ancestors_and_descendants_through_merges(archive: Archive) -> None:
    root = add(archive, "root")
    left = add(archive, "left", parents=(root.id,))
    right = add(archive, "right", parents=(root.id,), status="rejected-smoke")
    merged = add(archive, "merged", parents=(left.id, right.id))
    leaf = add(archive, "leaf", parents=(merged.id,))
    other = add(archive, "other")
    lin = archive.lineage(left.id[:8])
    assert lin.ancestors == (root.id,)
    assert lin.descendants == (merged.id, leaf.id)
    assert other.id not in lin.nodes and right.id not in lin.nodes
    assert archive.children(root.id) == (left.id, right.id)
    assert archive.lineage(merged.id).ancestors == (left.id, right.id, root.id)
    assert archive.get(merged.id).parents == (left.id, right.id)


def test_the_archive_never_imports_a_mechanism_source(archive: Archive, tmp_path: Path) -> None:
    marker = tmp_path / "imported"
    hostile = f"open({str(marker)!r}, 'w').write('x')\nraise SystemExit(3)\n"
    rec = add(archive, "h", source=hostile, status="rejected-static")
    archive.get(rec.id)
    archive.verify()
    assert not marker.exists()


def test_opening_a_missing_archive_without_create_is_a_usage_error(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match="no mechanism archive"):
        Archive.open(tmp_path / "nothing")
    assert not (tmp_path / "nothing").exists()


def test_a_non_empty_foreign_directory_is_not_turned_into_an_archive(tmp_path: Path) -> None:
    (tmp_path / "notes.txt").write_text("mine")
    with pytest.raises(UsageError, match="not a mechanism archive"):
        Archive.open(tmp_path, create=True)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["notes.txt"]


def test_reopening_sees_everything_written_before(tmp_path: Path) -> None:
    with Archive.open(tmp_path / "a", create=True) as arch:
        rec = add(arch, "a")
        arch.set_status(rec.id, "rolled-back", run_id="run-a")
    with Archive.open(tmp_path / "a") as arch:
        assert arch.get(rec.id[:8]).status == "rolled-back"
        assert arch.verify().ok


def test_a_stored_source_past_the_cap_is_never_handed_to_a_host(archive: Archive) -> None:
    rec = add(archive, "a")
    (archive.root / "objects" / rec.id[:2] / rec.id / "source.py").write_bytes(b"#" * (MAX_SOURCE_BYTES + 1))
    with pytest.raises(EvolveError, match="more than a mechanism may have"):
        archive.source(rec.id)
