"""Mechanism sources for gate tests: a valid mechanism around a hook body, and the check that the gate
rejects it naming the line marked `# <-`."""

from __future__ import annotations

import textwrap

from bilevel_evolve.sandbox.gate import check_source

MARK = "# <-"


def mechanism(body: str, header: str = "") -> str:
    """A valid mechanism whose propose() runs `body` after the module header `header`."""
    return (
        f"{textwrap.dedent(header).strip()}\n\n\n"
        "class Probe:\n"
        '    name = "probe"\n\n'
        "    def propose(self, ctx):\n"
        f"{textwrap.indent(textwrap.dedent(body).strip(), ' ' * 8)}\n"
        "        return None\n\n\n"
        "MECHANISM = Probe\n"
    )


def marked_line(source: str) -> int:
    return next(i for i, line in enumerate(source.splitlines(), start=1) if MARK in line)


def assert_rejected_at(source: str, rules: set[str]) -> None:
    report = check_source(source)
    line = marked_line(source)
    assert not report.ok
    hits = [v for v in report.violations if v.line == line]
    assert hits, f"nothing reported on line {line}:\n{report.to_text()}"
    assert {v.rule for v in hits} & rules, report.to_text()
    assert f"mechanism.py:{line}: " in report.to_text()
