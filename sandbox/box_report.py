"""The host's decision about one smoke test, and how it reads to a person."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict

from bilevel_evolve.ground.untrusted import for_terminal
from bilevel_evolve.sandbox.verdict import BoxStatus, HarnessVerdict

REPORT_CHARS = 100_000  # a report as text; its reasons, names and output come from the mechanism


class BoxReport(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    status: BoxStatus
    reasons: tuple[str, ...] = ()
    warnings: tuple[str, ...] = ()
    device: str = ""
    image: str = ""
    container: str = ""
    exit_code: int | None = None
    oom_killed: bool = False
    timed_out: bool = False
    duration_s: float = 0.0
    sha256: str = ""
    verdict: HarnessVerdict | None = None
    ignored_output: tuple[str, ...] = ()  # why marker lines in the output were not taken as a verdict

    @property
    def ok(self) -> bool:
        return self.status == "PASSED"

    @property
    def output_head(self) -> str:
        return self.verdict.output.head if self.verdict else ""

    def to_json(self) -> dict[str, Any]:
        return self.model_dump(mode="json", by_alias=True)

    def to_text(self, *, measured: bool = True) -> str:
        """The report for a person; without `measured`, without the times it took (what a repair round
        shows a model: the same for the same candidate on every run, so a replay meets the same prompt)."""
        took = f"{self.duration_s:.2f} s; " if measured else ""
        lines = [f"box: {self.status}  ({self.device}; {took}image {self.image})"]
        lines += [f"  reason: {r}" for r in self.reasons]
        lines += [f"  warning: {w}" for w in self.warnings]
        if self.verdict is not None:
            mech = self.verdict.mechanism
            if mech.class_:
                lines.append(f"  mechanism: {mech.name} (class {mech.class_}; hooks: {', '.join(mech.hooks)})")
            for hook, t in self.verdict.hooks.items():
                times = f"  mean {t.mean_ms:8.2f} ms  max {t.max_ms:8.2f} ms" if measured else ""
                lines.append(f"  {hook:<16} {t.calls:>4} calls{times}")
            if self.verdict.output.bytes:
                lines.append(f"  mechanism output: {self.verdict.output.bytes} bytes (excerpt kept)")
        return for_terminal("\n".join(lines), REPORT_CHARS)
