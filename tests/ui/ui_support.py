"""What the dashboard tests share: the markup names, `evolve ui` as a process, a run cut short."""

from __future__ import annotations

import queue
import re
import shutil
import signal
import subprocess
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

CHROMIUM = Path("/usr/bin/chromium")
CHROMEDRIVER = Path("/usr/bin/chromedriver")
WAIT_S = 60  # generous: the waits end as soon as their condition holds
SCRIPT_NAME = "<script>alert(1)</script>"  # the user mechanism's `name`: shown in the trace
FILE_NAME = "<img src=x onerror=alert(2)>"  # its file's stem: the archive's name for it
BENCH = """\
import argparse, sys
parser = argparse.ArgumentParser()
parser.add_argument("--x", type=float)
x = parser.parse_args().x
print(f"warming up at x={x}")
if x < -0.3:
    print("diverged", file=sys.stderr)
    sys.exit(3)
print(f"score: {(x - 0.3) ** 2 + 1}")
"""
SPEC = ('{"command": ["python", "bench.py"], "metric_regex": "score: ([0-9.eE+-]+)", '
        '"space": {"x": {"type": "float", "low": -2, "high": 2, "default": 0}}}')


@dataclass(frozen=True)
class Level2Run:
    run_dir: Path
    archive: Path


@contextmanager
def dashboard(*args: str) -> Iterator[str]:
    """`evolve ui ARGS --port 0` as its own process; yields the URL it prints."""
    proc = subprocess.Popen([sys.executable, "-m", "bilevel_evolve.engine.cli", "ui", *args, "--port", "0"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    lines: queue.Queue[str] = queue.Queue()
    threading.Thread(target=lambda: [lines.put(line) for line in proc.stderr or ()], daemon=True).start()
    try:
        url = _printed_url(lines)
        yield url
    finally:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(timeout=WAIT_S)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def _printed_url(lines: queue.Queue[str]) -> str:
    seen = []
    while True:
        try:
            line = lines.get(timeout=WAIT_S)
        except queue.Empty:
            raise AssertionError(f"`evolve ui` printed no URL: {''.join(seen)}") from None
        seen.append(line)
        found = re.search(r"dashboard: (http://\S+)", line)
        if found:
            return found.group(1)


def copy_run_head(run_dir: Path, dest: Path, lines: int) -> list[bytes]:
    """A run directory holding the config and the first `lines` trace lines; returns the rest."""
    dest.mkdir(parents=True)
    shutil.copy(run_dir / "config.json", dest / "config.json")
    trace = (run_dir / "trace.jsonl").read_bytes().splitlines(keepends=True)
    (dest / "trace.jsonl").write_bytes(b"".join(trace[:lines]))
    return trace[lines:]
