"""Mechanisms a user brings: vetted exactly like generated ones (gate -> box), archived as `user`."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from bilevel_evolve.engine.outer.research.candidates import Candidate
from bilevel_evolve.engine.outer.research.vetting import SandboxVetter, Vetting
from bilevel_evolve.ground.errors import UsageError

if TYPE_CHECKING:
    from bilevel_evolve.mechanism_archive.archive import Archive

MAX_FILE_BYTES = 1024 * 1024


def read_mechanism_file(path: Path) -> bytes:
    if not path.is_file():
        raise UsageError(f"mechanism file {path} does not exist", "pass the path of a mechanism .py file")
    if path.stat().st_size > MAX_FILE_BYTES:
        raise UsageError(f"{path} is {path.stat().st_size} bytes; a mechanism is at most 64 KiB",
                         "split the mechanism or drop what it does not need")
    return path.read_bytes()


def vet_and_archive(path: Path, archive: Archive, *, run_id: str, space: dict[str, Any] | None = None,
                    direction: str = "minimize") -> tuple[str, Vetting]:
    """Vet a user's mechanism file and archive it (whatever the verdict). Returns (id, vetting)."""
    source = read_mechanism_file(path)
    candidate = Candidate(name=path.stem, source=source, origin="user", session={"file": str(path)})
    vetting = SandboxVetter().vet(candidate, space or {}, direction)
    gate = vetting.gate or {}
    record = archive.add(source, name=path.stem, class_name=gate.get("mechanism_class") or path.stem,
                         origin="user", run_id=run_id, session=candidate.session, gate_report=vetting.gate,
                         box_report=vetting.box, status=vetting.status, reason=vetting.reason,
                         key=f"{run_id}:user:{vetting.sha256}")
    return record.id, vetting
