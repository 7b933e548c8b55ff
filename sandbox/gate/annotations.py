"""String annotations: code the gate would never parse, evaluated later by whatever reads type hints
(functools.singledispatch's register(), typing.get_type_hints). One is allowed only when it parses as a
plain type expression (`"Probe"`, `"list[float] | None"`); the policy then checks its names like any code."""

from __future__ import annotations

import ast
import warnings

_TYPE_EXPRESSION_NODES = (
    ast.Expression, ast.Name, ast.Attribute, ast.Subscript, ast.Tuple, ast.List, ast.BinOp, ast.BitOr, ast.Load,
)


def _as_type_expression(text: str, where: ast.Constant) -> ast.expr | None:
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            parsed = ast.parse(text.strip(), mode="eval")
    except (SyntaxError, ValueError, MemoryError, RecursionError):
        return None
    for node in ast.walk(parsed):
        plain_constant = isinstance(node, ast.Constant) and (node.value is None or node.value is Ellipsis)
        if not (isinstance(node, _TYPE_EXPRESSION_NODES) or plain_constant):
            return None
        if isinstance(node, ast.BinOp) and not isinstance(node.op, ast.BitOr):
            return None
        # Violations found in it are reported on the annotation's line.
        for attribute in ("lineno", "end_lineno", "col_offset", "end_col_offset"):
            if hasattr(node, attribute):
                setattr(node, attribute, getattr(where, attribute))
    return parsed.body


def string_annotations(annotation: ast.expr | None) -> list[tuple[ast.Constant, ast.expr | None]]:
    """Every string literal in an annotation, with its parse as a type expression (None when it is not one)."""
    if annotation is None:
        return []
    found = []
    for node in ast.walk(annotation):
        if isinstance(node, ast.Constant) and isinstance(node.value, str):
            found.append((node, _as_type_expression(node.value, node)))
    return found
