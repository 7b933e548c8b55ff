"""`evolve check`: vet one mechanism — static gate, then the box — and report both.

    report = check_mechanism(Path("mech.py"))       # CheckReport; report.accepted
    print(report.to_text())

The source is never imported on the host: the gate reads it as text, the box runs it in a container.
Only a Path is read as a file (paths come from the command line, by type); a str or bytes is the source.
A MechanismSource is checked as it is; a file or text becomes one after the gate (which judges raw
input of any size), so the box gets the same value, hash included, that a scientist would hand over.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Literal

import docker
from pydantic import BaseModel, ConfigDict

from bilevel_evolve.ground.contract.interface import MAX_SOURCE_BYTES
from bilevel_evolve.ground.contract.source import MechanismSource, SourceTooLarge, sha256_hex
from bilevel_evolve.ground.errors import UsageError
from bilevel_evolve.ground.space import SearchSpace
from bilevel_evolve.ground.untrusted import for_terminal
from bilevel_evolve.sandbox.box import run_smoke_test
from bilevel_evolve.sandbox.box_report import REPORT_CHARS, BoxReport
from bilevel_evolve.sandbox.container_spec import BoxLimits
from bilevel_evolve.sandbox.gate import GatePolicy, GateReport, check_source
from bilevel_evolve.sandbox.trace_input import load_trace

CheckStatus = Literal["accepted", "rejected-static", "rejected-smoke"]
MAX_SOURCE_FILE_BYTES = 1024 * 1024  # the gate rejects anything past MAX_SOURCE_BYTES; just do not read huge files


class CheckReport(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    status: CheckStatus
    filename: str
    sha256: str
    gate: GateReport | None = None  # None when the gate was switched off
    box: BoxReport | None = None  # None when the gate rejected the source

    @property
    def accepted(self) -> bool:
        return self.status == "accepted"

    @property
    def reasons(self) -> list[str]:
        if self.gate is not None and not self.gate.ok:
            return [v.message if v.line is None else f"line {v.line}: {v.message}" for v in self.gate.violations]
        return list(self.box.reasons) if self.box is not None else []

    def to_json(self) -> dict[str, Any]:
        return {
            "status": self.status, "accepted": self.accepted, "filename": self.filename, "sha256": self.sha256,
            "reasons": self.reasons,
            "gate": json.loads(self.gate.to_json()) if self.gate is not None else None,
            "box": self.box.to_json() if self.box is not None else None,
        }

    def to_text(self, *, measured: bool = True) -> str:
        """The report for a person (`measured=False`: without the box's times, see BoxReport.to_text)."""
        verdict = "ACCEPTED" if self.accepted else f"REJECTED ({self.status})"
        lines = [f"{self.filename}: {verdict}  sha256 {self.sha256[:16]}"]
        if self.gate is None:
            lines.append("gate: switched off")
        else:
            lines.append("gate: passed" if self.gate.ok else "gate: rejected")
            if not self.gate.ok:
                lines += [f"  {line}" for line in self.gate.to_text().splitlines()]
        if self.box is not None:
            lines.append(self.box.to_text(measured=measured))
        elif self.gate is not None and not self.gate.ok:
            lines.append("box: not run (the gate rejected the source)")
        return for_terminal("\n".join(lines), REPORT_CHARS)  # the gate's text quotes the source


def _read_source(source_or_path: str | bytes | Path) -> tuple[bytes, str]:
    """A Path is a file to read; text and bytes are the source itself, whatever they say (a "source" that
    names a file on the host is source text that names a file, never that file)."""
    if isinstance(source_or_path, bytes):
        return source_or_path, "mechanism.py"
    if isinstance(source_or_path, Path):
        path = source_or_path
        try:
            if path.stat().st_size > MAX_SOURCE_FILE_BYTES:
                raise UsageError(f"{path} is {path.stat().st_size} bytes; a mechanism is at most "
                                 f"{MAX_SOURCE_BYTES // 1024} KiB", "split the mechanism or drop what it does not need")
            return path.read_bytes(), path.name
        except OSError as exc:
            raise UsageError(f"cannot read {path}: {exc.strerror}", "pass the path of a mechanism .py file") from None
    return source_or_path.encode("utf-8", "surrogatepass"), "mechanism.py"


def _boxable(data: bytes, sha: str, given: MechanismSource | None) -> MechanismSource | BoxReport:
    """The value the box runs, or the box's rejection of bytes that cannot be a mechanism (the gate,
    when it is on, has rejected them already)."""
    try:
        data.decode("utf-8")
    except UnicodeDecodeError:
        return BoxReport(status="FAILED", sha256=sha, reasons=("the source is not valid UTF-8",))
    if given is not None:
        return given
    try:
        return MechanismSource(data)
    except SourceTooLarge as exc:
        return BoxReport(status="FAILED", sha256=sha, reasons=(str(exc),))


def check_mechanism(
    mechanism: MechanismSource | str | bytes | Path,
    *,
    gate: bool = True,
    gpu: bool | None = None,
    trace: Path | None = None,
    report_dir: Path | None = None,
    space: dict[str, Any] | None = None,
    limits: BoxLimits | None = None,
    client: docker.DockerClient | None = None,
    policy: GatePolicy | None = None,
    runtime: str | None = None,
) -> CheckReport:
    """Gate, then box (the box only when the gate passes). Raises EvolveError only when the check
    itself cannot run (unreadable file, no Docker engine, no image, GPU asked for without one, `runtime`
    not registered). `runtime` is the Docker runtime of the box (None: the engine's default, or the limits')."""
    if runtime is not None:
        limits = BoxLimits.model_validate({**(limits or BoxLimits()).model_dump(), "runtime": runtime})
    if isinstance(mechanism, MechanismSource):
        given: MechanismSource | None = mechanism
        data, filename = mechanism.data, "mechanism.py"
    else:
        given = None
        data, filename = _read_source(mechanism)
    direction, trials = "minimize", None
    if trace is not None:
        space, direction, trials = load_trace(trace, space)
    elif space is not None:
        space = SearchSpace.from_dict(space).to_dict()
    gate_report = None
    if gate:
        gate_report = check_source(given if given is not None else data, filename=filename, policy=policy)
        sha = gate_report.sha256
    else:
        sha = given.sha256 if given is not None else sha256_hex(data)
    if gate_report is not None and not gate_report.ok:
        report = CheckReport(status="rejected-static", filename=filename, sha256=sha, gate=gate_report)
    else:
        source = _boxable(data, sha, given)
        if isinstance(source, BoxReport):
            box = source
        else:
            box = run_smoke_test(source, limits=limits, gpu_wanted=gpu, space=space, direction=direction,
                                 trace=trials, client=client)
        report = CheckReport(status="accepted" if box.ok else "rejected-smoke", filename=filename, sha256=sha,
                             gate=gate_report, box=box)
    if report_dir is not None:
        save_report(report, report_dir)
    return report


def save_report(report: CheckReport, report_dir: Path) -> None:
    """gate.json, box.json and report.txt (only the parts that exist)."""
    report_dir.mkdir(parents=True, exist_ok=True)
    if report.gate is not None:
        (report_dir / "gate.json").write_text(report.gate.to_json() + "\n", encoding="utf-8")
    if report.box is not None:
        (report_dir / "box.json").write_text(json.dumps(report.box.to_json(), indent=2) + "\n", encoding="utf-8")
    (report_dir / "report.txt").write_text(report.to_text() + "\n", encoding="utf-8")
