"""Case 18: output that merely claims success is not success — only the harness's nonce verdict counts."""

from __future__ import annotations

import json

import pytest

from bilevel_evolve.sandbox.verdict import VERDICT_MARKER

pytestmark = pytest.mark.docker

FAKE = {
    "schema": 1, "nonce": "f" * 64, "status": "PASSED", "reasons": [], "warnings": [],
    "mechanism": {"name": "x", "class": "X", "hooks": ["propose"]}, "hooks": {}, "iterations": 12,
    "output": {"bytes": 0, "head": "", "tail": ""}, "duration_s": 0.1,
}
FAKE_LINE = f"{VERDICT_MARKER} {json.dumps(FAKE)}"
BROKEN = """
class Broken:
    def propose(self, ctx):
        return "x"
MECHANISM = Broken
"""


def test_printed_passed_and_fake_verdict_lines_do_not_count(box) -> None:
    report = box(f"print('PASSED')\nprint({FAKE_LINE!r})\nprint('status: accepted')\n" + BROKEN)
    assert report.status == "FAILED"
    assert "hook propose returned 'x' (str)" in report.reasons[0]


def test_fake_verdict_written_to_the_container_stdout_is_ignored(box) -> None:
    source = (
        "with open('/proc/1/fd/1', 'w') as out:\n"
        f"    out.write('\\n' + {FAKE_LINE!r} + '\\n')\n" + BROKEN
    )
    report = box(source)
    assert report.status == "FAILED"
    assert "does not carry this run's nonce" in " ".join(report.ignored_output)


def test_fake_verdict_file_is_not_a_verdict(box) -> None:
    source = (
        "import json\n"
        "for path in ('/tmp/verdict.json', '/tmp/box.json'):\n"
        f"    open(path, 'w').write(json.dumps({FAKE!r}))\n" + BROKEN
    )
    assert box(source).status == "FAILED"


def test_early_sys_exit_zero_is_not_a_pass(box) -> None:
    report = box("import sys\nprint('PASSED')\nsys.exit(0)\n" + BROKEN)
    assert report.status == "IMPORT_ERROR"
    assert "sys.exit(0)" in report.reasons[0]


def test_early_os_exit_zero_is_not_a_pass(box) -> None:
    report = box("import os\nprint('PASSED', flush=True)\nos._exit(0)\n" + BROKEN)
    assert report.status == "CRASHED"
    assert "exited with code 0" in report.reasons[0]


def test_killing_the_harness_and_forging_leaves_no_verdict(box) -> None:
    source = (
        "import os, signal\n"
        "with open('/proc/1/fd/1', 'w') as out:\n"
        f"    out.write('\\n' + {FAKE_LINE!r} + '\\n')\n"
        "os.kill(os.getppid(), signal.SIGKILL)\n" + BROKEN
    )
    report = box(source)
    assert report.status == "NO_VERDICT"
    assert not report.ok


def test_patching_the_harness_has_no_effect(box) -> None:
    source = """
import sys
outcomes = []
for path in ("/opt/harness/bilevel_evolve/sandbox/guest/harness.py",
             "/opt/harness/bilevel_evolve/sandbox/guest/trace_driver.py",
             "/opt/harness/bilevel_evolve/ground/contract/returns.py"):
    try:
        open(path, "a").write("\\nSTATUS = 'PASSED'\\n")
        outcomes.append("patched")
    except OSError:
        outcomes.append("refused")
import bilevel_evolve.ground.contract.returns as returns
import bilevel_evolve.sandbox.guest.trace_driver as trace_driver
returns.check_return = lambda hook, value, space: []
trace_driver.first_difference = lambda a, b: None
print("PATCH", outcomes)
""" + BROKEN
    report = box(source)
    assert report.status == "FAILED"  # the parent's checks are in another process, untouched
    assert "PATCH ['refused', 'refused', 'refused']" in report.verdict.output.head


def test_harness_memory_environ_and_stdin_are_out_of_reach(box) -> None:
    source = """
import os
parent = os.getppid()
found = {}
for what in ("environ", "cmdline", "mem", "fd/0", "fd/1", "maps"):
    try:
        with open(f"/proc/{parent}/{what}", "rb") as fh:
            found[what] = fh.read(4096)[:0] or "read"
    except OSError as exc:
        found[what] = exc.errno
try:
    fd = os.open("/proc/1/fd/0", os.O_RDONLY | os.O_NONBLOCK)
    found["stdin"] = os.read(fd, 65536).decode(errors="replace") or "empty"
except OSError as exc:
    found["stdin"] = exc.errno
print("SNOOP", found)
""" + BROKEN
    report = box(source, output_keep=8192)
    head = report.verdict.output.head
    assert report.status == "FAILED"
    snoop = head.split("SNOOP ", 1)[1].split("\n", 1)[0]
    for what in ("'environ'", "'mem'", "'fd/0'", "'fd/1'", "'maps'"):
        assert f"{what}: 13" in snoop, snoop  # EACCES: the harness is not dumpable
    assert "nonce" not in snoop
