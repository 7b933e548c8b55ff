"""Caps checked before and right after parsing, without recursion, so hostile input cannot blow
the checker's memory or stack."""

from __future__ import annotations

import ast
import re
from collections.abc import Iterator

from bilevel_evolve.sandbox.gate.models import GatePolicy, Violation

# PEP 263: an encoding declaration in a comment on line 1 or 2.
_CODING = re.compile(rb"^[ \t\f]*#.*?coding[:=][ \t]*([-\w.]+)")
_UTF8_NAMES = {b"utf-8", b"utf8", b"utf_8"}


def check_raw(data: bytes, policy: GatePolicy) -> tuple[str | None, list[Violation]]:
    """Size, encoding and line caps on the raw bytes. Returns the decoded text when they pass."""
    if len(data) > policy.max_bytes:
        return None, [
            Violation(
                line=None,
                col=None,
                rule="size",
                message=f"source is {len(data)} bytes, over the {policy.max_bytes}-byte limit; "
                "keep a mechanism to one small module (drop dead code, long tables and comments)",
            )
        ]
    if b"\x00" in data:
        line = data.count(b"\n", 0, data.index(b"\x00")) + 1
        return None, [
            Violation(
                line=line, col=None, rule="encoding", message="source contains a NUL byte; save it as plain UTF-8 text"
            )
        ]
    for number, raw_line in enumerate(data.splitlines()[:2], start=1):
        match = _CODING.match(raw_line)
        if match and match.group(1).lower() not in _UTF8_NAMES:
            name = match.group(1).decode("ascii", "replace")
            return None, [
                Violation(
                    line=number,
                    col=None,
                    rule="encoding",
                    message=f"encoding declaration {name!r} is not allowed (the gate and the interpreter "
                    "would read different code); remove it and save the file as UTF-8",
                )
            ]
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        return None, [
            Violation(
                line=line,
                col=None,
                rule="encoding",
                message=f"source is not valid UTF-8 ({exc.reason}); save it as UTF-8",
            )
        ]
    lines = text.count("\n") + 1
    if lines > policy.max_lines:
        return None, [
            Violation(
                line=None,
                col=None,
                rule="size",
                message=f"source has {lines} lines, over the {policy.max_lines}-line limit; shorten it",
            )
        ]
    return text, []


def _children(node: ast.AST) -> Iterator[ast.AST]:
    return ast.iter_child_nodes(node)


def check_shape(tree: ast.AST, policy: GatePolicy) -> list[Violation]:
    """Node count and nesting depth, walked with an explicit stack (no recursion)."""
    stack: list[tuple[ast.AST, int]] = [(tree, 1)]
    count = 0
    while stack:
        node, depth = stack.pop()
        count += 1
        if depth > policy.max_depth:
            return [
                Violation(
                    line=getattr(node, "lineno", None),
                    col=getattr(node, "col_offset", None),
                    rule="depth",
                    message=f"code is nested more than {policy.max_depth} levels deep; flatten it "
                    "(split long expressions, return early, move blocks into helper methods)",
                )
            ]
        if count > policy.max_nodes:
            return [
                Violation(
                    line=None,
                    col=None,
                    rule="size",
                    message=f"source has more than {policy.max_nodes} syntax nodes; shorten it",
                )
            ]
        stack.extend((child, depth + 1) for child in _children(node))
    return []
