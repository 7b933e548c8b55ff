"""Case 17: floods of output are capped in the box and in the engine."""

from __future__ import annotations

import tracemalloc

import pytest

pytestmark = pytest.mark.docker

QUIET = """
class Quiet:
    def observe(self, trial, ctx):
        return None
MECHANISM = Quiet
"""


def _peak_mib(run) -> tuple[object, float]:
    tracemalloc.start()
    try:
        report = run()
        return report, tracemalloc.get_traced_memory()[1] / 2**20
    finally:
        tracemalloc.stop()


def test_hundred_mib_log_flood_is_capped(box) -> None:
    flood = "import sys\nline = 'z' * 1023 + '\\n'\nfor _ in range(100 * 1024):\n    sys.stdout.write(line)\n"
    report, peak = _peak_mib(lambda: box(flood + QUIET, deadline_s=40.0, import_s=30.0))
    assert report.status == "PASSED", report.to_text()
    assert report.verdict.output.bytes >= 100 * 2**20
    assert len(report.verdict.output.head) <= 2048
    assert len(report.verdict.output.tail) <= 2048
    assert peak < 32, f"the engine held {peak:.0f} MiB while reading a flood"


def test_ten_mib_single_line_is_capped(box) -> None:
    flood = "import sys\nsys.stdout.write('q' * (10 * 1024 * 1024))\nsys.stdout.flush()\n"
    report, peak = _peak_mib(lambda: box(flood + QUIET))
    assert report.status == "PASSED", report.to_text()
    assert report.verdict.output.bytes == 10 * 2**20
    assert peak < 32


def test_flood_written_straight_to_the_container_log_is_capped(box) -> None:
    # Bypasses the harness's capture: writes to the container's stdout through pid 1's descriptor.
    flood = (
        "with open('/proc/1/fd/1', 'w') as out:\n"
        "    for _ in range(30):\n"
        "        out.write('w' * (1024 * 1024) + '\\n')\n"
    )
    report, peak = _peak_mib(lambda: box(flood + QUIET))
    assert report.status == "PASSED", report.to_text()
    assert peak < 32
