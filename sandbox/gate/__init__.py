"""Static gate for mechanism source: a RestrictedPython policy applied at compile time only.

`check_source(data, filename=..., policy=GatePolicy.default())` returns a `GateReport`; when
`report.ok` is false, `report.to_text()` lists one violation a line with its line number and fix.
The source is never imported or run here.
"""

from bilevel_evolve.ground.contract.interface import DEFAULT_ALLOWED_IMPORTS
from bilevel_evolve.sandbox.gate.checker import check_source
from bilevel_evolve.sandbox.gate.models import GatePolicy, GateReport, Violation

__all__ = ["DEFAULT_ALLOWED_IMPORTS", "GatePolicy", "GateReport", "Violation", "check_source"]
