"""What `evolve ui` shows: a run directory, an ablation directory, or an archive on its own."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from bilevel_evolve.engine.ablation.store import is_ablation_dir, load_spec
from bilevel_evolve.engine.run.store import CONFIG_FILE, RunStore
from bilevel_evolve.ground.errors import UsageError
from bilevel_evolve.mechanism_archive.layout import MARKER_FILE

TargetKind = Literal["run", "ablation", "archive"]


@dataclass(frozen=True)
class Target:
    kind: TargetKind
    path: Path | None  # the run or ablation directory; None for an archive on its own
    archive: Path | None  # the archive named (a live run may not have created it yet); None: no Level 2


def resolve_target(path: Path | None, archive: Path | None) -> Target:
    """A run or ablation directory (its archive from --archive, else its own config), or an archive alone."""
    if path is None or (path / MARKER_FILE).is_file():
        named = path or archive
        if named is None:
            raise UsageError("nothing to show", "pass a run directory, an ablation directory, or --archive DIR")
        if not (named / MARKER_FILE).is_file():
            raise UsageError(f"no mechanism archive at {named}", "pass the --archive directory a run wrote")
        return Target("archive", None, named)
    if is_ablation_dir(path):
        return Target("ablation", path, archive or Path(load_spec(path).archive))
    if (path / CONFIG_FILE).is_file():
        configured = RunStore.open(path).config().archive
        return Target("run", path, archive or (Path(configured) if configured else None))
    raise UsageError(f"{path} is neither a run, an ablation nor an archive directory",
                     "pass a directory made by `evolve run` or `evolve ablate`, or --archive DIR")
