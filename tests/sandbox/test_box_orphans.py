"""Case 20: daemons a mechanism leaves behind are reaped with the box; nothing survives on the host."""

from __future__ import annotations

import os
import textwrap
import uuid

import pytest

pytestmark = pytest.mark.docker

COUNT_INSIDE = """
import time
time.sleep(0.3)
alive = 0
for pid in os.listdir("/proc"):
    if pid.isdigit():
        try:
            alive += MARKER.encode() in open(f"/proc/{pid}/cmdline", "rb").read()
        except OSError:
            pass
results["alive_inside"] = alive
"""


def _host_processes_with(marker: str) -> list[int]:
    found = []
    for pid in os.listdir("/proc"):
        if pid.isdigit():
            try:
                with open(f"/proc/{pid}/cmdline", "rb") as fh:
                    if marker.encode() in fh.read():
                        found.append(int(pid))
            except OSError:
                pass
    return found


def test_double_forked_daemon_is_reaped(probe) -> None:
    marker = f"daemon-{uuid.uuid4().hex}"
    results, report = probe(textwrap.dedent(f"""
        MARKER = {marker!r}
        pid = os.fork()
        if pid == 0:
            os.setsid()
            if os.fork() == 0:
                os.execv("/bin/sh", ["/bin/sh", "-c", "sleep 300; : " + MARKER])
            os._exit(0)
        os.waitpid(pid, 0)
    """) + COUNT_INSIDE)
    assert results["alive_inside"] >= 1  # the daemon really ran
    assert report.status == "PASSED"
    assert _host_processes_with(marker) == []


def test_setsid_child_is_reaped(probe) -> None:
    marker = f"setsid-{uuid.uuid4().hex}"
    results, report = probe(textwrap.dedent(f"""
        import subprocess
        MARKER = {marker!r}
        subprocess.Popen(["/bin/sh", "-c", "trap '' TERM HUP; sleep 300; : " + MARKER], start_new_session=True)
    """) + COUNT_INSIDE)
    assert results["alive_inside"] >= 1
    assert report.status == "PASSED"
    assert _host_processes_with(marker) == []
