"""The data behind the page: one snapshot per view, recomputed only when its files change."""

from __future__ import annotations

import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

from bilevel_evolve.engine.ablation.spec import plan
from bilevel_evolve.engine.ablation.store import RUNS_DIR, SPEC_FILE, load_spec, run_dir
from bilevel_evolve.engine.llm.cassette import CASSETTE_NAME
from bilevel_evolve.engine.run.store import CHECKPOINT_FILE, CONFIG_FILE, TRACE_FILE
from bilevel_evolve.engine.ui.ablation_view import ablation_snapshot
from bilevel_evolve.engine.ui.archive_reader import ArchiveReader
from bilevel_evolve.engine.ui.lineage_view import lineage_graph, mechanism_detail
from bilevel_evolve.engine.ui.run_view import run_snapshot
from bilevel_evolve.engine.ui.target import Target
from bilevel_evolve.engine.ui.trial_files import trial_files
from bilevel_evolve.ground.errors import UsageError

RUN_FILES = (CONFIG_FILE, TRACE_FILE, CHECKPOINT_FILE, CASSETTE_NAME)


class Dashboard:
    def __init__(self, target: Target) -> None:
        self.target = target
        self.archive = ArchiveReader(target.archive)
        self._cache: dict[str, tuple[str, dict[str, Any]]] = {}
        self._lock = threading.Lock()

    def state(self, run: str | None = None) -> dict[str, Any]:
        """The snapshot of the target, or in an ablation of one of its runs; `version` names its files' state."""
        if self.target.kind == "archive":
            return self._cached("archive", self._version([]), self._archive_snapshot)
        if self.target.kind == "ablation" and run is None:
            out = self._path()
            files = [out / SPEC_FILE, *[p / f for p in sorted((out / RUNS_DIR).glob("*")) for f in RUN_FILES]]
            return self._cached("ablation", self._version(files), lambda: ablation_snapshot(out))
        path = self.run_dir(run)
        return self._cached(f"run:{path}", self._version([path / f for f in RUN_FILES]),
                            lambda: {**run_snapshot(path, self.archive.get(), self.target.archive),
                                     "ablation_run": run})

    def trial(self, step: int, run: str | None = None) -> dict[str, Any]:
        return trial_files(self.run_dir(run), step)

    def mechanism(self, mechanism_id: str) -> dict[str, Any]:
        archive = self.archive.get()
        if archive is None:
            raise UsageError("no mechanism archive to read", "start the dashboard with --archive DIR")
        return mechanism_detail(archive, mechanism_id)

    def run_dir(self, run: str | None) -> Path:
        """The run directory itself, or one of the ablation's planned runs by name (nothing else)."""
        if self.target.kind == "run" and run is None:
            return self._path()
        if self.target.kind == "ablation" and run is not None:
            out = self._path()
            if run in {p.name for p in plan(load_spec(out))}:
                return run_dir(out, run)
        raise UsageError(f"no run {run!r} here", "pick a run from the ablation's runs table")

    def close(self) -> None:
        self.archive.close()

    def _archive_snapshot(self) -> dict[str, Any]:
        archive = self.archive.get()
        lineage = lineage_graph(archive) if archive is not None else []
        return {"kind": "archive", "archive": {"available": archive is not None, "path": str(self.target.archive),
                                               "note": "", "lineage": lineage}}

    def _path(self) -> Path:
        if self.target.path is None:
            raise UsageError("this dashboard shows an archive alone", "start it on a run or ablation directory")
        return self.target.path

    def _version(self, files: list[Path]) -> str:
        parts: list[int] = list(self.archive.stamp())
        for f in files:
            try:
                st = f.stat()
                parts += [st.st_size, st.st_mtime_ns]
            except FileNotFoundError:
                parts += [-1, -1]
        return "-".join(map(str, parts))

    def _cached(self, key: str, version: str, build: Callable[[], dict[str, Any]]) -> dict[str, Any]:
        with self._lock:
            hit = self._cache.get(key)
        if hit is not None and hit[0] == version:
            return hit[1]
        snapshot = {**build(), "version": version}
        with self._lock:
            self._cache[key] = (version, snapshot)
        return snapshot
