"""Case 9 and 10: runaway hooks are killed at the deadline, and the container is gone afterwards."""

from __future__ import annotations

import pytest

pytestmark = pytest.mark.docker

SPIN = """
class Spin:
    def propose(self, ctx):
        while True:
            pass
MECHANISM = Spin
"""

SLEEP_IGNORING_SIGTERM = """
import signal, time
class Sleeper:
    def observe(self, trial, ctx):
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        time.sleep(600)
MECHANISM = Sleeper
"""

FREEZE_THE_HARNESS = """
import os, signal, time
class Freezer:
    def guide(self, ctx):
        os.kill(os.getppid(), signal.SIGSTOP)
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        time.sleep(600)
MECHANISM = Freezer
"""


def test_hook_spinning_forever_is_killed_at_the_per_call_deadline(box, our_containers) -> None:
    report = box(SPIN, per_call_s=2.0, deadline_s=15.0)
    assert report.status == "TIMEOUT"
    assert "hook propose at iteration 0" in report.reasons[0]
    assert "per-call limit" in report.reasons[0]
    assert not [c for c in our_containers() if c.name == report.container]


def test_sleep_ignoring_sigterm_is_killed_at_the_wall_clock_deadline(box, our_containers) -> None:
    report = box(SLEEP_IGNORING_SIGTERM, per_call_s=60.0, deadline_s=3.0)
    assert report.status == "TIMEOUT"
    assert "3 s deadline" in report.reasons[0]
    assert not [c for c in our_containers() if c.name == report.container]


def test_frozen_harness_is_killed_by_the_host_deadline(box, our_containers) -> None:
    report = box(FREEZE_THE_HARNESS, per_call_s=60.0, deadline_s=2.0, host_grace_s=1.0)
    assert report.status == "TIMEOUT"
    assert report.timed_out is True
    assert "killed by the host" in report.reasons[0]
    assert not [c for c in our_containers() if c.name == report.container]
