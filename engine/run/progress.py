"""Progress of a run: a live bar on a terminal, a plain line every ~10% elsewhere."""

from __future__ import annotations

import sys
import time
from types import TracebackType

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

from bilevel_evolve.ground.records import TrialRecord
from bilevel_evolve.ground.untrusted import for_markup, for_terminal


def _fmt(value: float | None) -> str:
    return "—" if value is None else f"{value:.6g}"


class RunProgress:
    def __init__(self, total: int, done: int = 0, *, label: str = "evolve", enabled: bool = True) -> None:
        self.total = total
        self.label = label
        self.enabled = enabled
        self._console = Console(stderr=True)
        self._live = enabled and self._console.is_terminal
        self._progress: Progress | None = None
        self._task: TaskID | None = None
        self._done = done
        self._t0 = time.monotonic()
        self._next_plain = done
        self._start_done = done

    def __enter__(self) -> RunProgress:
        if self._live:
            self._progress = Progress(
                TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(),
                TextColumn("best {task.fields[best]}"), TextColumn("last {task.fields[last]}"),
                TimeElapsedColumn(), TextColumn("eta"), TimeRemainingColumn(),
                console=self._console, transient=False)
            self._progress.start()
            # the description is read as markup ("[bold]{task.description}"): a run id stays text
            self._task = self._progress.add_task(for_markup(self.label, 200), total=self.total, completed=self._done,
                                                 best="—", last="—")
        return self

    def update(self, done: int, total: int, last: TrialRecord, best: TrialRecord | None) -> None:
        self._done = done
        if self._progress is not None and self._task is not None:
            self._progress.update(self._task, completed=done, best=_fmt(best.value if best else None),
                                  last=f"{_fmt(last.value)}{' ✓' if last.accepted else ''}")
        elif self.enabled and (done >= self._next_plain or done == total):
            self._next_plain = done + max(1, total // 10)
            rate = (done - self._start_done) / max(1e-9, time.monotonic() - self._t0)
            print(f"[{for_terminal(self.label, 200)}] step {done}/{total}  best {_fmt(best.value if best else None)}  "
                  f"last {_fmt(last.value)}  {rate:.1f} steps/s", file=sys.stderr, flush=True)

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        if self._progress is not None:
            self._progress.stop()
