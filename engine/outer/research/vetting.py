"""Gate, then box, for a candidate the outer loop wrote: the research session's single door."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Any, Protocol

from bilevel_evolve.engine.outer.research.candidates import Candidate


@dataclass(frozen=True)
class Vetting:
    status: str  # accepted | rejected-static | rejected-smoke
    sha256: str
    gate: dict[str, Any] | None
    box: dict[str, Any] | None
    text: str  # the human-readable report; also what an LLM repair round is shown
    reason: str

    @property
    def accepted(self) -> bool:
        return self.status == "accepted"


class Vetter(Protocol):
    def vet(self, candidate: Candidate, space: dict[str, Any], direction: str) -> Vetting: ...


class SandboxVetter:
    """The real thing: RestrictedPython gate with the default policy (plus what the candidate
    declares it needs), then a smoke test in a fresh hardened container."""

    def __init__(self, *, gpu: bool | None = None) -> None:
        self.gpu = gpu

    def vet(self, candidate: Candidate, space: dict[str, Any], direction: str) -> Vetting:
        from bilevel_evolve.sandbox.gate import GatePolicy
        from bilevel_evolve.sandbox.vet import check_mechanism

        policy = GatePolicy.default().allowing(*candidate.extra_imports) if candidate.extra_imports else None
        text = candidate.source.decode("utf-8", "replace")
        report = check_mechanism(text, gpu=self.gpu, space=space or None, policy=policy)
        as_json = report.to_json()
        reason = "; ".join(report.reasons)[:2000] if not report.accepted else ""
        return Vetting(status=report.status, sha256=hashlib.sha256(candidate.source).hexdigest(),
                       gate=as_json.get("gate"), box=as_json.get("box"), text=report.to_text(), reason=reason)
