"""Cases 11-13: process, thread, memory and disk bombs hit the container's caps, not the host."""

from __future__ import annotations

import subprocess

import pytest

pytestmark = pytest.mark.docker

PIDS = 64


def test_fork_bomb_is_capped_by_the_pids_limit(probe) -> None:
    results, _ = probe(
        """
        import time
        forks = 0
        try:
            while forks < 10_000:
                pid = os.fork()
                if pid == 0:
                    time.sleep(60)
                    os._exit(0)
                forks += 1
        except OSError as exc:
            results["error"] = type(exc).__name__
        results["forks"] = forks
    """,
        pids=PIDS,
    )
    assert results["error"] == "BlockingIOError"
    assert results["forks"] < PIDS
    assert subprocess.run(["true"], check=False).returncode == 0  # the host still forks


def test_thread_bomb_is_capped_by_the_pids_limit(probe) -> None:
    results, _ = probe(
        """
        import threading, time
        threads = 0
        try:
            while threads < 10_000:
                threading.Thread(target=time.sleep, args=(60,), daemon=True).start()
                threads += 1
        except RuntimeError as exc:
            results["error"] = str(exc)
        results["threads"] = threads
    """,
        pids=PIDS,
    )
    assert "can't start new thread" in results["error"]
    assert results["threads"] < PIDS


def test_memory_bomb_is_oom_killed_with_verdict_oom(box) -> None:
    report = box(
        """
        class Hog:
            def propose(self, ctx):
                blocks = []
                while True:
                    blocks.append(bytearray(16 * 1024 * 1024))
        MECHANISM = Hog
    """,
        memory_mb=256,
    )
    assert report.status == "OOM"
    assert report.oom_killed is True
    assert "256 MiB" in report.reasons[0]


def test_filling_tmpfs_stops_at_its_size_cap(probe) -> None:
    results, report = probe(
        """
        written = 0
        chunk = b"x" * (1024 * 1024)
        try:
            with open("/tmp/fill", "wb") as fh:
                while written < 1024:
                    fh.write(chunk)
                    fh.flush()
                    written += 1
        except OSError as exc:
            results["errno"] = exc.errno
        results["mib"] = written
        os.remove("/tmp/fill")
    """,
        tmpfs_mb=16,
        memory_mb=512,
    )
    assert results["errno"] == 28  # ENOSPC
    assert results["mib"] <= 16
    assert report.status == "PASSED"


@pytest.mark.parametrize(
    "path", ["/evil", "/usr/evil", "/mech/evil", "/mech/mechanism.py", "/opt/harness/harness.py", "/opt/venv/evil"]
)
def test_writes_outside_tmp_are_refused(probe, path: str) -> None:
    results, _ = probe(f"""
        try:
            with open({path!r}, "a") as fh:
                fh.write("x")
            results["outcome"] = "written"
        except OSError as exc:
            results["outcome"] = exc.errno
    """)
    assert results["outcome"] in (13, 30)  # EACCES or EROFS


def test_one_gib_into_tmp_is_refused_by_the_size_cap(probe) -> None:
    results, _ = probe(
        """
        try:
            with open("/tmp/big", "wb") as fh:
                fh.truncate(1024 ** 3)
                fh.seek(0)
                for _ in range(1024):
                    fh.write(b"y" * (1024 * 1024))
            results["outcome"] = "written"
        except OSError as exc:
            results["outcome"] = exc.errno
    """,
        tmpfs_mb=32,
        memory_mb=512,
    )
    assert results["outcome"] == 28  # ENOSPC
