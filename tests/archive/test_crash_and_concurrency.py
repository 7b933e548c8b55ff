"""Killed writers and concurrent writers leave an archive that verifies."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
from archive_support import add, object_dirs

from bilevel_evolve.mechanism_archive import store
from bilevel_evolve.mechanism_archive.archive import Archive

HERE = Path(__file__).parent


def _python(code: str, *args: str) -> subprocess.Popen[bytes]:
    prelude = f"import sys; sys.path.insert(0, {str(HERE)!r})\n"
    return subprocess.Popen([sys.executable, "-c", prelude + textwrap.dedent(code), *args],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)


def _run(code: str, *args: str) -> subprocess.CompletedProcess[bytes]:
    proc = _python(code, *args)
    out, err = proc.communicate(timeout=120)
    return subprocess.CompletedProcess(proc.args, proc.returncode, out, err)


def test_a_failure_between_temp_write_and_rename_leaves_nothing_behind(archive: Archive,
                                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    first = add(archive, "first")

    def failing_rename(src: object, dst: object) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(store.os, "rename", failing_rename)
    with pytest.raises(OSError, match="No space left"):
        add(archive, "second")
    monkeypatch.undo()
    assert object_dirs(archive.root) == [archive.root / "objects" / first.id[:2] / first.id]
    assert [e.mechanism_id for e in archive.events()] == [first.id]
    assert list((archive.root / ".tmp").iterdir()) == []
    assert archive.verify().ok


def test_a_writer_killed_before_its_rename_leaves_a_temp_dir_that_the_next_open_removes(tmp_path: Path) -> None:
    root = tmp_path / "archive"
    proc = _run("""
        import os, signal
        from archive_support import add
        from bilevel_evolve.mechanism_archive import store
        from bilevel_evolve.mechanism_archive.archive import Archive
        arch = Archive.open(sys.argv[1], create=True)
        add(arch, "first")
        store.os.rename = lambda *a: os.kill(os.getpid(), signal.SIGKILL)
        add(arch, "second")
    """, str(root))
    assert proc.returncode == -signal.SIGKILL, proc.stderr.decode()
    leftovers = list((root / ".tmp").iterdir())
    assert len(leftovers) == 1 and (leftovers[0] / "source.py").exists()
    with Archive.open(root) as arch:
        assert arch.recovery.temp_removed == 1
        assert list((root / ".tmp").iterdir()) == []
        assert [s.name for s in arch.list()] == ["m-first"]
        assert arch.verify().ok


def test_a_writer_killed_after_its_rename_has_its_complete_object_indexed_on_the_next_open(tmp_path: Path) -> None:
    root = tmp_path / "archive"
    proc = _run("""
        import os, signal
        from archive_support import add
        from bilevel_evolve.mechanism_archive.archive import Archive
        from bilevel_evolve.mechanism_archive.index import Index
        arch = Archive.open(sys.argv[1], create=True)
        first = add(arch, "first")
        Index.insert_event = staticmethod(lambda *a, **k: os.kill(os.getpid(), signal.SIGKILL))
        add(arch, "second", parents=(first.id,), status="rejected-smoke", reason="sklearn missing")
    """, str(root))
    assert proc.returncode == -signal.SIGKILL, proc.stderr.decode()
    assert len(object_dirs(root)) == 2
    with Archive.open(root, recover_now=False) as arch:
        assert [p.kind for p in arch.verify().problems] == ["unindexed-object"]
    with Archive.open(root) as arch:
        assert len(arch.recovery.adopted) == 1
        second = arch.get(arch.recovery.adopted[0])
        assert (second.name, second.status, second.summary.reason) == ("m-second", "rejected-smoke", "sklearn missing")
        assert second.history[0].payload == {"reused": False, "recovered": True}
        assert arch.lineage(second.id).ancestors == (arch.list()[0].id,)
        assert arch.verify().ok


def test_killing_a_busy_writer_at_an_arbitrary_moment_leaves_an_archive_that_verifies(tmp_path: Path) -> None:
    root = tmp_path / "archive"
    Archive.open(root, create=True).close()
    proc = _python("""
        from archive_support import add
        from bilevel_evolve.mechanism_archive.archive import Archive
        arch = Archive.open(sys.argv[1])
        parent = ()
        for i in range(10_000):
            rec = add(arch, str(i), parents=parent, run_id="run-k")
            arch.set_status(rec.id, "rolled-back", run_id="run-k", reason="test")
            arch.record_effect(rec.id, run_id="run-k", effect={"delta": -0.1 * i})
            parent = (rec.id,)
    """, str(root))
    deadline = time.monotonic() + 60
    while len(object_dirs(root)) < 8 and time.monotonic() < deadline and proc.poll() is None:
        time.sleep(0.02)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    with Archive.open(root) as arch:
        report = arch.verify()
        assert report.ok, report.problems
        listed = arch.list()
        assert len(listed) >= 8
        for summary in listed:
            assert arch.get(summary.id).source.startswith("class M")


_WRITER = """
    import pathlib, time
    from archive_support import add, mechanism_source
    from bilevel_evolve.mechanism_archive.archive import Archive
    root, who, go = sys.argv[1], sys.argv[2], pathlib.Path(sys.argv[3])
    while not go.exists():
        time.sleep(0.005)
    arch = Archive.open(root, create=True)
    shared = add(arch, "shared", run_id=f"run-{who}")
    for i in range(20):
        rec = add(arch, f"{who}{i}", parents=(shared.id,), run_id=f"run-{who}")
        arch.set_status(rec.id, "dead", run_id=f"run-{who}", reason="no decision changed")
    print("done")
"""


def test_two_processes_creating_and_writing_one_archive_at_once_both_succeed(tmp_path: Path) -> None:
    root, go = tmp_path / "shared-archive", tmp_path / "go"
    procs = [_python(_WRITER, str(root), who, str(go)) for who in ("a", "b")]
    go.touch()
    results = [p.communicate(timeout=120) for p in procs]
    for proc, (out, err) in zip(procs, results, strict=True):
        assert proc.returncode == 0 and out.strip() == b"done", err.decode()
    with Archive.open(root) as arch:
        listed = arch.list()
        assert len(listed) == 41
        assert len(object_dirs(root)) == 41
        shared = listed[0]
        assert shared.name == "m-shared" and len(arch.children(shared.id)) == 40
        assert sorted(e.run_id for e in arch.events(mechanism_id=shared.id)) == ["run-a", "run-b"]
        assert len(arch.events()) == 2 + 2 * 20 * 2
        report = arch.verify()
        assert report.ok, report.problems
