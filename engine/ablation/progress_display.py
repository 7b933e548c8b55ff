"""Progress of an ablation: an overall bar (runs done / total, ETA) and one line per finished run."""

from __future__ import annotations

import time
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)

from bilevel_evolve.engine.ablation.aggregate import read_run
from bilevel_evolve.ground.errors import EvolveError

if TYPE_CHECKING:
    from bilevel_evolve.engine.ablation.executor import RunOutcome


class AblationProgress:
    def __init__(self, total: int, done: int, out: Path, *, enabled: bool = True) -> None:
        self.total = total
        self.done = done
        self.out = out
        self.enabled = enabled
        self._console = Console(stderr=True)
        self._progress: Progress | None = None
        self._task: TaskID | None = None
        self._t0 = time.monotonic()
        self._start_done = done

    def __enter__(self) -> AblationProgress:
        if self.done:  # said even without progress: it explains why the rerun is quick
            self._console.print(f"{self.done} of {self.total} runs already finished in {self.out}: kept")
        if not self.enabled:
            return self
        if self._console.is_terminal:
            self._progress = Progress(TextColumn("[bold]ablation"), BarColumn(), MofNCompleteColumn(),
                                      TextColumn("runs"), TimeElapsedColumn(), TextColumn("eta"),
                                      TimeRemainingColumn(), console=self._console)
            self._progress.start()
            self._task = self._progress.add_task("runs", total=self.total, completed=self.done)
        return self

    def run_done(self, outcome: RunOutcome, path: Path) -> None:
        self.done += 1
        if not self.enabled:
            return
        line = f"{'✓' if outcome.ok else '✗'} {outcome.run.name:<12} {outcome.action:<8} {outcome.seconds:6.1f} s"
        line += f"  {_result_text(outcome, path)}  [{self.done}/{self.total}{self._eta()}]"
        self._console.print(line, highlight=False)
        if self._progress is not None and self._task is not None:
            self._progress.update(self._task, completed=self.done)

    def _eta(self) -> str:
        finished_here = self.done - self._start_done
        if self._progress is not None or finished_here == 0 or self.done >= self.total:
            return ""
        per_run = (time.monotonic() - self._t0) / finished_here
        return f", eta {per_run * (self.total - self.done):.0f} s"

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        if self._progress is not None:
            self._progress.stop()


def _result_text(outcome: RunOutcome, path: Path) -> str:
    if not outcome.ok:
        return "failed (see its log)"
    try:
        result = read_run(path, outcome.run)
    except EvolveError:
        return ""
    if result is None or result.best is None:
        return "no successful trial"
    change = f"  change {result.change:+.4g}" if result.change is not None else ""
    return f"best {result.best:.6g}{change}"
