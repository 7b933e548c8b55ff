"""The ablation directory: ablation.json (the spec, written once), runs/NAME/ (ordinary run
directories), logs/NAME.log (each run's console output), report.md and plots/."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Literal

from pydantic import ValidationError

from bilevel_evolve.engine.ablation.spec import FORMAT_VERSION, AblationSpec
from bilevel_evolve.engine.run.store import CHECKPOINT_FILE, CONFIG_FILE, RunStore
from bilevel_evolve.ground.errors import RunDirError, UsageError
from bilevel_evolve.ground.fileio import atomic_write_bytes

SPEC_FILE = "ablation.json"
RUNS_DIR = "runs"
LOGS_DIR = "logs"

RunState = Literal["fresh", "partial", "done"]


def is_ablation_dir(path: Path) -> bool:
    return (path / SPEC_FILE).is_file()


def run_dir(out: Path, name: str) -> Path:
    return out / RUNS_DIR / name


def log_path(out: Path, name: str) -> Path:
    return out / LOGS_DIR / f"{name}.log"


def load_spec(out: Path) -> AblationSpec:
    path = out / SPEC_FILE
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise RunDirError(f"cannot read {path}: {exc}",
                          "restore the file, or start the ablation in a new --out") from None
    version = raw.get("format_version") if isinstance(raw, dict) else None
    if isinstance(version, int) and version > FORMAT_VERSION:
        raise RunDirError(f"{path} was written by a newer Bilevel Evolve (format {version})",
                          "upgrade bilevel-evolve to continue or report this ablation")
    try:
        return AblationSpec.model_validate(raw)
    except ValidationError as exc:
        raise RunDirError(f"{path} is not a valid ablation spec: {exc.errors()[0]['msg']}",
                          "restore the file, or start the ablation in a new --out") from None


def open_or_create(out: Path, spec: AblationSpec) -> bool:
    """Bind `out` to `spec`. Returns True when it already held this very ablation (continue it).
    A directory holding anything else is refused and left untouched."""
    if out.exists() and not out.is_dir():
        raise UsageError(f"--out {out} is a file", "pass a directory for the ablation")
    if is_ablation_dir(out):
        existing = load_spec(out)
        if existing != spec:
            changes = "; ".join(existing.differences(spec)) or "format"
            raise UsageError(f"{out} holds a different ablation ({changes}); nothing was changed",
                             f"pick a new --out, or repeat the original command (its spec is in {out / SPEC_FILE})")
        return True
    if out.exists() and any(out.iterdir()):
        raise UsageError(f"{out} exists and is not an ablation directory (no {SPEC_FILE}); nothing was changed",
                         "pick a new or empty --out")
    (out / RUNS_DIR).mkdir(parents=True, exist_ok=True)
    (out / LOGS_DIR).mkdir(exist_ok=True)
    atomic_write_bytes(out / SPEC_FILE, spec.model_dump_json(indent=2).encode())
    return False


def run_state(path: Path) -> RunState:
    """done: the run ended (its checkpoint says so); partial: it started, so it is resumed;
    fresh: nothing of it exists yet (a leftover without config.json never ran a trial)."""
    if not (path / CONFIG_FILE).is_file():
        return "fresh"
    if not (path / CHECKPOINT_FILE).is_file():
        return "partial"
    checkpoint = RunStore.open(path).load_checkpoint()
    return "partial" if checkpoint is None or checkpoint.status == "running" else "done"


def clear_leftover(path: Path) -> None:
    """Remove what a run killed before writing its config left behind, so `evolve run` can start."""
    if path.exists() and not (path / CONFIG_FILE).exists():
        shutil.rmtree(path)
