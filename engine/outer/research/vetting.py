"""Gate, then box, for a candidate the outer loop wrote: the research session's single door."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

from bilevel_evolve.engine.outer.research.candidates import Candidate

if TYPE_CHECKING:
    from bilevel_evolve.ground.contract.source import MechanismSource
    from bilevel_evolve.sandbox.box_report import BoxReport
    from bilevel_evolve.sandbox.gate import GateReport
    from bilevel_evolve.sandbox.vet import CheckStatus


@dataclass(frozen=True)
class Vetting:
    status: CheckStatus
    source: MechanismSource  # what was vetted; its sha256 is the archive id
    gate: GateReport | None  # None when the gate was switched off
    box: BoxReport | None  # None when the gate rejected the source
    text: str  # the human-readable report
    reason: str
    repair_text: str = ""  # what a repair round is shown: the report without the times the box measured

    @property
    def accepted(self) -> bool:
        return self.status == "accepted"

    @property
    def class_name(self) -> str | None:
        """The class `MECHANISM` names, as the gate read it."""
        return self.gate.mechanism_class if self.gate is not None else None


class Vetter(Protocol):
    def vet(self, candidate: Candidate, space: dict[str, Any], direction: str) -> Vetting: ...


class SandboxVetter:
    """The real thing: RestrictedPython gate with the default policy (plus what the candidate
    declares it needs), then a smoke test in a fresh hardened container."""

    def __init__(self, *, gpu: bool | None = None, runtime: str | None = None) -> None:
        self.gpu = gpu
        self.runtime = runtime  # the box's Docker runtime (None: the engine's default)

    def vet(self, candidate: Candidate, space: dict[str, Any], direction: str) -> Vetting:
        from bilevel_evolve.sandbox.gate import GatePolicy
        from bilevel_evolve.sandbox.vet import check_mechanism

        policy = GatePolicy.default().allowing(*candidate.extra_imports) if candidate.extra_imports else None
        report = check_mechanism(candidate.source, gpu=self.gpu, space=space or None, policy=policy,
                                 runtime=self.runtime)
        reason = "; ".join(report.reasons)[:2000] if not report.accepted else ""
        return Vetting(status=report.status, source=candidate.source, gate=report.gate, box=report.box,
                       text=report.to_text(), reason=reason, repair_text=report.to_text(measured=False))
