"""Read and rewrite the upper-case constants block of a train.py, without ever executing it.

Reading uses `ast`; a value counts when it is a literal or a small arithmetic expression of
literals (Karpathy writes TOTAL_BATCH_SIZE = 2**19). Rewriting splices new literals over the
exact source span of the old value, so comments and layout survive, and then re-reads the
result to prove that only the intended values changed.
"""

from __future__ import annotations

import ast
import math
import operator
import re
from collections import Counter
from dataclasses import dataclass
from typing import Any, TypeGuard

from bilevel_evolve.ground.errors import EvolveError, UsageError

ConstValue = int | float | str | bool | tuple[Any, ...]
Span = tuple[int, int, int, int]  # lineno, col_offset, end_lineno, end_col_offset (UTF-8 columns)

_CONSTANT_NAME = re.compile(r"^[A-Z][A-Z0-9_]*$")
_ELEMENT_NAME = re.compile(r"^(?P<base>[A-Z][A-Z0-9_]*)__(?P<index>\d+)$")
# Friendly names for tuple elements, so a search space can tune ADAM_BETAS = (b1, b2).
ALIASES: dict[str, tuple[str, int]] = {"ADAM_BETA1": ("ADAM_BETAS", 0), "ADAM_BETA2": ("ADAM_BETAS", 1)}

_BINARY = {
    ast.Add: operator.add, ast.Sub: operator.sub, ast.Mult: operator.mul, ast.Div: operator.truediv,
    ast.FloorDiv: operator.floordiv, ast.Mod: operator.mod, ast.Pow: operator.pow,
    ast.LShift: operator.lshift,
}


@dataclass(frozen=True)
class Constant:
    name: str
    value: ConstValue
    span: Span
    element_spans: tuple[Span, ...] = ()  # one per element when the value is a tuple display


@dataclass(frozen=True)
class Binding:
    """Where a search-space parameter lands: a constant, or one element of a tuple constant."""

    constant: str
    index: int | None = None


def read_constants(source: str, where: str) -> dict[str, Constant]:
    """Upper-case module-level constants with literal values, by name.

    A name assigned more than once at module level is left out: rewriting one of several
    assignments would not reliably change what the program uses.
    """
    try:
        tree = ast.parse(source, filename=where)
    except SyntaxError as exc:
        raise UsageError(f"{where}:{exc.lineno}: syntax error: {exc.msg}",
                         "fix the file so that python can compile it") from None
    found: list[Constant] = []
    counts: Counter[str] = Counter()
    for stmt in tree.body:
        target, value = _simple_assignment(stmt)
        if target is None or value is None:
            continue
        counts[target] += 1
        evaluated = _evaluate(value)
        if evaluated is _NOT_LITERAL or not _CONSTANT_NAME.match(target):
            continue
        elements = tuple(_span(e) for e in value.elts) if isinstance(value, ast.Tuple) else ()
        found.append(Constant(target, evaluated, _span(value), elements))
    return {c.name: c for c in found if counts[c.name] == 1}


def resolve(name: str, constants: dict[str, Constant]) -> Binding | None:
    """The constant a parameter name refers to: NAME itself, an alias, or NAME__i for element i."""
    const = constants.get(name)
    if const is not None:
        return Binding(name) if _is_scalar(const.value) else None
    base, index = ALIASES.get(name, (None, None))
    if base is None and (m := _ELEMENT_NAME.match(name)):
        base, index = m["base"], int(m["index"])
    if base is None or index is None or base not in constants:
        return None
    value = constants[base].value
    if not isinstance(value, tuple) or index >= len(value) or not constants[base].element_spans:
        return None
    return Binding(base, index) if _is_scalar(value[index]) else None


def current_value(binding: Binding, constants: dict[str, Constant]) -> ConstValue:
    value = constants[binding.constant].value
    return value if binding.index is None else value[binding.index]  # type: ignore[index]


def render_literal(value: Any) -> str:
    """A Python literal for a validated scalar; anything else is refused."""
    if isinstance(value, int):  # bool included: True and False are literals too
        return repr(value)
    if isinstance(value, float):
        if not math.isfinite(value):
            raise ValueError(f"{value!r} is not finite")
        return repr(value)
    if isinstance(value, str):
        return repr(value)
    raise ValueError(f"{value!r} ({type(value).__name__}) cannot be written as a constant")


def rewrite(source: str, where: str, values: dict[Binding, Any]) -> str:
    """Return source with each bound constant (or tuple element) set to its new value."""
    constants = read_constants(source, where)
    edits: list[tuple[Span, str]] = []
    for binding, value in values.items():
        const = constants[binding.constant]
        span = const.span if binding.index is None else const.element_spans[binding.index]
        edits.append((span, render_literal(value)))
    new_source = _splice(source, edits)
    _verify(source, new_source, where, values)
    return new_source


def _verify(old: str, new: str, where: str, values: dict[Binding, Any]) -> None:
    """Re-read the rewritten source: same statements, and every edited value exactly as intended."""
    after = read_constants(new, where)
    if len(ast.parse(new).body) != len(ast.parse(old).body):
        raise EvolveError(f"rewriting {where} changed its statement count", "report this as a bug")
    for binding, value in values.items():
        got = current_value(binding, after) if binding.constant in after else None
        if got != value or type(got) is not type(value):
            raise EvolveError(f"rewriting {where}: {binding.constant} reads back as {got!r}, not {value!r}",
                              "report this as a bug")


def _splice(source: str, edits: list[tuple[Span, str]]) -> str:
    data = source.encode("utf-8")
    starts = [0]
    for row in data.splitlines(keepends=True):
        starts.append(starts[-1] + len(row))
    chunks: list[bytes] = []
    pos = 0
    for (line, col, end_line, end_col), text in sorted(edits):
        begin, end = starts[line - 1] + col, starts[end_line - 1] + end_col
        if begin < pos:
            raise EvolveError("overlapping constant edits", "bind each constant once in the space")
        chunks += [data[pos:begin], text.encode("utf-8")]
        pos = end
    chunks.append(data[pos:])
    return b"".join(chunks).decode("utf-8")


def _simple_assignment(stmt: ast.stmt) -> tuple[str | None, ast.expr | None]:
    if isinstance(stmt, ast.Assign) and len(stmt.targets) == 1 and isinstance(stmt.targets[0], ast.Name):
        return stmt.targets[0].id, stmt.value
    if isinstance(stmt, ast.AnnAssign) and isinstance(stmt.target, ast.Name):
        return stmt.target.id, stmt.value
    return None, None


def _span(node: ast.expr) -> Span:
    assert node.end_lineno is not None and node.end_col_offset is not None
    return node.lineno, node.col_offset, node.end_lineno, node.end_col_offset


_NOT_LITERAL = object()


def _evaluate(node: ast.expr) -> Any:
    """Value of a literal or a small arithmetic expression of numbers; _NOT_LITERAL otherwise."""
    if isinstance(node, ast.Constant) and isinstance(node.value, int | float | str | bool):
        return node.value
    if isinstance(node, ast.Tuple):
        items = [_evaluate(e) for e in node.elts]
        return _NOT_LITERAL if any(i is _NOT_LITERAL for i in items) else tuple(items)
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub | ast.UAdd):
        operand = _evaluate(node.operand)
        if not is_number(operand):
            return _NOT_LITERAL
        return -operand if isinstance(node.op, ast.USub) else operand
    if isinstance(node, ast.BinOp) and type(node.op) in _BINARY:
        left, right = _evaluate(node.left), _evaluate(node.right)
        if not (is_number(left) and is_number(right)):
            return _NOT_LITERAL
        if isinstance(node.op, ast.Pow | ast.LShift) and abs(right) > 64:
            return _NOT_LITERAL  # refuse to build huge numbers
        try:
            result = _BINARY[type(node.op)](left, right)
        except (ArithmeticError, ValueError):
            return _NOT_LITERAL
        return result if is_number(result) else _NOT_LITERAL  # (-8) ** 0.5 is complex
    return _NOT_LITERAL


def is_number(value: Any) -> TypeGuard[int | float]:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _is_scalar(value: Any) -> bool:
    return isinstance(value, int | float | str | bool)
