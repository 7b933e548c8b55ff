"""Issue 15, item 5: with `--mechanism-runtime host`, a relative `--run-dir` (and archive) is a run like any
other: the mechanism workers, which run in another directory, still find their sources."""

from __future__ import annotations

from pathlib import Path

import pytest

from bilevel_evolve.engine.cli.main import main
from bilevel_evolve.engine.run.store import RunStore

pytestmark = pytest.mark.usefixtures("sandbox_ready")

COUNTER = """
class Counter:
    name = "counter"

    def __init__(self):
        self.seen = 0

    def observe(self, trial, ctx):
        self.seen += 1
        return None

    def state_dict(self):
        return {"seen": self.seen}

    def load_state_dict(self, state):
        self.seen = int(state["seen"])


MECHANISM = Counter
"""


def test_a_relative_run_dir_with_the_host_runtime(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    Path("counter.py").write_text(COUNTER)
    assert main(["run", "--domain", "function:branin", "--iterations", "5", "--mechanism", "counter.py",
                 "--mechanism-runtime", "host", "--archive", "archive", "--run-dir", "run", "--no-progress"]) == 0
    events = list(RunStore.open(Path("run")).iter_events())
    assert not [e for e in events if e.kind == "rollback"]
    assert sum(e.kind == "hook" for e in events) == 5
