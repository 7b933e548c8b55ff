"""SANDBOX_TESTS case 7: huge or deeply nested sources are rejected with the reason, and the
checker survives (no crash, no RecursionError/MemoryError escaping); plus encoding traps and
fail-closed behaviour when the checker itself breaks."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from bilevel_evolve.sandbox.gate import GatePolicy, check_source
from bilevel_evolve.sandbox.gate import checker as gate_check
from bilevel_evolve.sandbox.gate.transformer import MechanismPolicy

GOOD = (Path(__file__).parent / "mechanisms" / "tabu_search.py").read_bytes()
# Lets oversized inputs reach the parser instead of stopping at the byte cap.
ROOMY = GatePolicy(max_bytes=16 * 1024 * 1024, max_lines=10**9, max_nodes=10**9)


def nested_ifs(levels: int) -> str:
    """`levels` nested ifs inside a function (Python's own indentation cap is 100 levels)."""
    body = "".join("    " * i + "if x:\n" for i in range(1, levels + 1)) + "    " * (levels + 1) + "pass\n"
    return "def f(x):\n" + body


HUGE_AND_DEEP = {
    "10-MB-source": ("x = 1\n" * (10 * 1024 * 1024 // 6), None, "size", "bytes"),
    "10-MB-single-line": ("#" + "a" * (10 * 1024 * 1024), None, "size", "bytes"),
    "100k-nested-parentheses": ("x = " + "(" * 100_000 + "1" + ")" * 100_000, None, "size", "bytes"),
    "100k-nested-parentheses-past-the-byte-cap": (
        "x = " + "(" * 100_000 + "1" + ")" * 100_000,
        ROOMY,
        "syntax",
        "nested parentheses",
    ),
    "100k-nested-lists-past-the-byte-cap": ("x = " + "[" * 100_000 + "]" * 100_000, ROOMY, "syntax", "nested"),
    "20k-nested-lists": ("x = " + "[" * 20_000 + "]" * 20_000, None, "syntax", "nested"),
    "deep-unary-minus": ("x = " + "-" * 60_000 + "1", None, "depth", "nested"),
    "deep-not-chain": ("x = " + "not " * 15_000 + "1", None, "depth", "nested"),
    "long-binary-chain": ("x = " + "+".join(["a"] * 20_000), None, "depth", "nested"),
    "long-attribute-chain": ("x = a" + ".b" * 20_000, None, "depth", "nested"),
    "long-call-chain": ("x = f" + "()" * 20_000, None, "depth", "nested"),
    "deep-lambdas": ("x = " + "lambda: " * 8_000 + "1", None, "depth", "nested"),
    "150-nested-ifs": (nested_ifs(150), None, "syntax", "indentation"),
    "97-nested-ifs": (nested_ifs(97), None, "depth", "nested"),
    "150-nested-calls": ("x = " + "f(" * 150 + "1" + ")" * 150, None, "depth", "nested"),
    "too-many-lines": ("x = 1\n" * 3000, None, "size", "lines"),
    "too-many-nodes": ("x = (" + "1," * 30_000 + ")\n", None, "size", "syntax nodes"),
}


@pytest.mark.parametrize(("source", "policy", "rule", "reason"), HUGE_AND_DEEP.values(), ids=HUGE_AND_DEEP.keys())
def test_huge_or_deep_source_is_rejected_and_the_checker_survives(
    source: str, policy: GatePolicy | None, rule: str, reason: str
) -> None:
    report = check_source(source, policy=policy)
    assert not report.ok
    assert rule in {v.rule for v in report.violations}, report.to_text()
    assert reason in report.to_text()
    # Still alive and still correct afterwards.
    assert check_source(GOOD).ok


def test_huge_bytes_are_hashed_and_rejected_without_decoding() -> None:
    data = b"\xff" * (10 * 1024 * 1024)
    report = check_source(data)
    assert [v.rule for v in report.violations] == ["size"]
    assert "10485760 bytes" in report.to_text()


ENCODING = {
    "nul-byte": b"class A:\n    name = 'a'\x00\nMECHANISM = A\n",
    "invalid-utf8": b"class A:\n    name = '\xff'\nMECHANISM = A\n",
    "utf7-coding-cookie": b"# -*- coding: utf-7 -*-\nclass A:\n    name = 'a'\nMECHANISM = A\n",
    "latin1-coding-cookie-line-2": b"#!/usr/bin/env python\n# coding=latin-1\n"
    b"class A:\n    name = 'a'\nMECHANISM = A\n",
    "lone-surrogate-in-str": "class A:\n    name = '\udc80'\nMECHANISM = A\n",
}


@pytest.mark.parametrize("source", ENCODING.values(), ids=ENCODING.keys())
def test_source_the_interpreter_could_read_differently_is_rejected(source: str | bytes) -> None:
    report = check_source(source)
    assert not report.ok
    assert [v.rule for v in report.violations] == ["encoding"], report.to_text()


def test_utf8_coding_cookie_and_bom_are_accepted() -> None:
    assert check_source(b"\xef\xbb\xbf" + GOOD).ok
    assert check_source(b"# -*- coding: utf-8 -*-\n" + GOOD).ok


def test_syntax_error_is_rejected_with_its_line() -> None:
    report = check_source("class A:\n    name = 'a'\n    def propose(self, ctx)\n        return None\n")
    assert [(v.rule, v.line) for v in report.violations] == [("syntax", 3)]
    assert report.to_text().startswith("mechanism.py:3: syntax error")


# -- fail closed --------------------------------------------------------------------------------


@pytest.mark.parametrize("error", [RuntimeError("bug"), MemoryError(), RecursionError(), ValueError("x")])
def test_exception_inside_the_policy_rejects_instead_of_crashing(
    monkeypatch: pytest.MonkeyPatch, error: Exception
) -> None:
    def explode(self: MechanismPolicy, node: ast.AST) -> ast.AST:
        raise error

    monkeypatch.setattr(MechanismPolicy, "visit_ClassDef", explode)
    report = check_source(GOOD)
    assert not report.ok
    assert [v.rule for v in report.violations] == ["internal"]
    assert type(error).__name__ in report.to_text()


def test_exception_in_the_structure_check_rejects(monkeypatch: pytest.MonkeyPatch) -> None:
    def explode(module: ast.Module) -> None:
        raise KeyError("boom")

    monkeypatch.setattr(gate_check, "check_structure", explode)
    report = check_source(GOOD)
    assert [v.rule for v in report.violations] == ["internal"]


def test_recursion_error_while_parsing_rejects(monkeypatch: pytest.MonkeyPatch) -> None:
    def explode(*args: object, **kwargs: object) -> ast.Module:
        raise RecursionError("maximum recursion depth exceeded during ast construction")

    monkeypatch.setattr(gate_check.ast, "parse", explode)
    report = check_source(GOOD)
    assert [v.rule for v in report.violations] == ["depth"]


def test_deep_source_near_the_interpreter_recursion_limit_still_rejects_cleanly() -> None:
    # Called from deep inside a caller's stack, the policy visitor may hit RecursionError itself.
    def descend(n: int) -> object:
        return descend(n - 1) if n else check_source("x = " + "f(" * 90 + "1" + ")" * 90)

    report = descend(700)
    assert not report.ok
