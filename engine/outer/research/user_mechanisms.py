"""Mechanisms a user brings: vetted exactly like generated ones (gate -> box), archived as `user`."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from bilevel_evolve.engine.outer.research.candidates import Candidate
from bilevel_evolve.engine.outer.research.vetting import SandboxVetter, Vetting
from bilevel_evolve.ground.contract.interface import MAX_SOURCE_BYTES
from bilevel_evolve.ground.contract.source import MechanismSource, SourceTooLarge
from bilevel_evolve.ground.errors import UsageError

if TYPE_CHECKING:
    from bilevel_evolve.mechanism_archive.archive import Archive


def read_mechanism_file(path: Path) -> MechanismSource:
    if not path.is_file():
        raise UsageError(f"mechanism file {path} does not exist", "pass the path of a mechanism .py file")
    with path.open("rb") as fh:
        data = fh.read(MAX_SOURCE_BYTES + 1)  # enough to tell a mechanism from a file too large to be one
    try:
        return MechanismSource(data)
    except SourceTooLarge:
        raise UsageError(f"{path} is {path.stat().st_size} bytes; a mechanism is at most {MAX_SOURCE_BYTES // 1024} "
                         "KiB", "split the mechanism or drop what it does not need") from None


def vet_and_archive(path: Path, archive: Archive, *, run_id: str, space: dict[str, Any] | None = None,
                    direction: str = "minimize", runtime: str | None = None) -> tuple[str, Vetting]:
    """Vet a user's mechanism file and archive it (whatever the verdict). Returns (id, vetting)."""
    source = read_mechanism_file(path)
    candidate = Candidate(name=path.stem, source=source, origin="user", session={"file": str(path)})
    vetting = SandboxVetter(runtime=runtime).vet(candidate, space or {}, direction)
    record = archive.add(source, name=path.stem, class_name=vetting.class_name or path.stem,
                         origin="user", run_id=run_id, session=candidate.session, gate_report=vetting.gate,
                         box_report=vetting.box, status=vetting.status, reason=vetting.reason,
                         key=f"{run_id}:user:{source.sha256}")
    return record.id, vetting
