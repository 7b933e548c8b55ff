"""The offline scientist's operators on mechanism sources: change a parent's constants, join two parents.

Sources are data here: they are parsed (ast), never imported or run, and the result is a new module
that goes through the gate and the box like any candidate. An operator that cannot read its input
(a syntax error, a module without `MECHANISM = Class`, an import that binds a name twice) answers None,
and the scientist writes something else.
"""

from __future__ import annotations

import ast
import math
import random
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from bilevel_evolve.ground.contract.interface import ALL_HOOKS

FACTORS = (0.5, 0.7, 1.4, 2.0)  # how far one change moves a constant (times), drawn at random
_NAME = re.compile(r"[^a-z0-9_+-]+")


@dataclass(frozen=True)
class Mutation:
    source: str
    changes: dict[str, tuple[float, float]]  # constant -> (before, after)


def mutate_constants(source: str, bounds: Mapping[str, tuple[float, float]], rng: random.Random,
                     changes: int = 1) -> Mutation | None:
    """The source with `changes` of its module-level numeric constants named in `bounds` moved by a factor
    in FACTORS (integers stay integers), each kept within its bounds and different from before."""
    try:
        tree = ast.parse(source)
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        return None
    found: dict[str, ast.expr] = {}
    for stmt in tree.body:
        if (isinstance(stmt, ast.Assign) and len(stmt.targets) == 1 and isinstance(stmt.targets[0], ast.Name)
                and stmt.targets[0].id in bounds and _number(stmt.value) is not None):
            found[stmt.targets[0].id] = stmt.value
    lines = source.splitlines(keepends=True)
    done: dict[str, tuple[float, float]] = {}
    for name in rng.sample(sorted(found), len(found)):
        if len(done) == changes:
            break
        node = found[name]
        if node.lineno != node.end_lineno:
            continue
        before = _number(node)
        assert before is not None
        after = _moved(before, bounds[name], rng)
        if after is None:
            continue
        line = lines[node.lineno - 1]
        start, end = _char_offsets(line, node.col_offset, node.end_col_offset or node.col_offset)
        lines[node.lineno - 1] = line[:start] + _literal(after, integer=isinstance(before, int)) + line[end:]
        done[name] = (before, after)
    return Mutation("".join(lines), done) if done else None


def _number(node: ast.expr) -> int | float | None:
    sign = 1
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub):
        sign, node = -1, node.operand
    if isinstance(node, ast.Constant) and isinstance(node.value, int | float) and not isinstance(node.value, bool):
        return sign * node.value if math.isfinite(node.value) else None
    return None


def _moved(before: int | float, bound: tuple[float, float], rng: random.Random) -> int | float | None:
    low, high = bound
    for factor in rng.sample(FACTORS, len(FACTORS)):
        after: int | float = min(high, max(low, before * factor))
        if isinstance(before, int):
            after = round(after)
            if after == before:
                after = before + (1 if factor > 1 else -1)
            if not low <= after <= high:
                continue
        else:
            after = float(f"{after:.4g}")
        if after != before:
            return after
    return None


def _literal(value: int | float, *, integer: bool) -> str:
    return str(int(value)) if integer else repr(float(value))


def _char_offsets(line: str, start: int, end: int) -> tuple[int, int]:
    """ast's column offsets count UTF-8 bytes; the line is text."""
    data = line.encode("utf-8")
    return len(data[:start].decode("utf-8", "replace")), len(data[:end].decode("utf-8", "replace"))


# ---- joining two mechanisms ---------------------------------------------------------------------


@dataclass(frozen=True)
class _Part:
    body: list[ast.stmt]  # the module without its docstring, __future__ import and MECHANISM line
    imports: list[ast.stmt]
    class_name: str
    hooks: tuple[str, ...]


def combine(sources: Sequence[str], *, name: str) -> str | None:
    """One mechanism whose class holds an instance of each source's mechanism and calls each part's hooks:
    guide merges the hints; propose and accept take the first part that answers; review passes the proposal
    through each part in turn (a rejection ends it); observe reaches every part; the state holds each
    part's. Module names the later sources share with earlier ones are renamed in the later ones."""
    parts: list[_Part] = []
    bound: set[str] = set()
    imports: dict[str, ast.stmt] = {}
    for source in sources:
        part = _read_part(source)
        if part is None:
            return None
        renames = {n: _fresh(n, bound) for n in _module_names(part.body) if n in bound}
        if renames:
            part = _Part([_Renamer(renames).visit(s) for s in part.body], part.imports,
                         renames.get(part.class_name, part.class_name), part.hooks)
        for stmt in part.imports:
            text = ast.unparse(stmt)
            for alias in _import_names(stmt):
                known = imports.get(alias)
                if known is not None and ast.unparse(known) != text:
                    return None  # the same name imported as two different things
                imports[alias] = stmt
        bound |= _module_names(part.body) | set(imports)
        parts.append(part)
    composite = _fresh("Combined", bound)
    lines = [f'"""Combined mechanism: {", ".join(p.class_name for p in parts)}, each called in turn."""', "",
             "from __future__ import annotations", ""]
    lines += list(dict.fromkeys(ast.unparse(s) for s in imports.values()))
    for part in parts:
        lines += ["", ast.unparse(ast.Module(body=part.body, type_ignores=[]))]
    lines += ["", "", *_composite(composite, _NAME.sub("-", name.lower())[:60] or "combined", parts), "",
              f"MECHANISM = {composite}", ""]
    return "\n".join(lines)


def _read_part(source: str) -> _Part | None:
    try:
        tree = ast.parse(source)
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        return None
    body: list[ast.stmt] = []
    imports: list[ast.stmt] = []
    class_name = None
    for i, stmt in enumerate(tree.body):
        if i == 0 and isinstance(stmt, ast.Expr) and isinstance(stmt.value, ast.Constant):
            continue  # the module docstring
        if isinstance(stmt, ast.ImportFrom) and stmt.module == "__future__":
            continue
        if (isinstance(stmt, ast.Assign) and len(stmt.targets) == 1 and isinstance(stmt.targets[0], ast.Name)
                and stmt.targets[0].id == "MECHANISM" and isinstance(stmt.value, ast.Name)):
            class_name = stmt.value.id
            continue
        (imports if isinstance(stmt, ast.Import | ast.ImportFrom) else body).append(stmt)
    classes = {s.name: s for s in body if isinstance(s, ast.ClassDef)}
    if class_name is None or class_name not in classes:
        return None
    return _Part(body, imports, class_name, _hooks(classes[class_name], classes))


def _hooks(cls: ast.ClassDef, classes: Mapping[str, ast.ClassDef]) -> tuple[str, ...]:
    """The hooks a class defines, its module's base classes included."""
    found: set[str] = set()
    todo, seen = [cls], set()
    while todo:
        current = todo.pop()
        if current.name in seen:
            continue
        seen.add(current.name)
        found |= {s.name for s in current.body if isinstance(s, ast.FunctionDef) and s.name in ALL_HOOKS}
        todo += [classes[b.id] for b in current.bases if isinstance(b, ast.Name) and b.id in classes]
    return tuple(h for h in ALL_HOOKS if h in found)


def _module_names(body: Sequence[ast.stmt]) -> set[str]:
    names: set[str] = set()
    for stmt in body:
        if isinstance(stmt, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            names.add(stmt.name)
        elif isinstance(stmt, ast.Assign | ast.AnnAssign | ast.AugAssign):
            targets = stmt.targets if isinstance(stmt, ast.Assign) else [stmt.target]
            names |= {n.id for t in targets for n in ast.walk(t) if isinstance(n, ast.Name)}
    return names


def _import_names(stmt: ast.stmt) -> list[str]:
    if isinstance(stmt, ast.Import):
        return [a.asname or a.name.split(".")[0] for a in stmt.names]
    if isinstance(stmt, ast.ImportFrom):
        return [a.asname or a.name for a in stmt.names]
    return []


def _fresh(name: str, taken: set[str]) -> str:
    if name not in taken:
        return name
    n = 2
    while f"{name}{n}" in taken:
        n += 1
    return f"{name}{n}"


class _Renamer(ast.NodeTransformer):
    """One name for another everywhere a module could mean it (names, definitions, parameters, keywords)."""

    def __init__(self, renames: Mapping[str, str]) -> None:
        self.renames = renames

    def visit_Name(self, node: ast.Name) -> ast.Name:
        node.id = self.renames.get(node.id, node.id)
        return node

    def visit_arg(self, node: ast.arg) -> ast.arg:
        node.arg = self.renames.get(node.arg, node.arg)
        self.generic_visit(node)
        return node

    def visit_keyword(self, node: ast.keyword) -> ast.keyword:
        if node.arg is not None:
            node.arg = self.renames.get(node.arg, node.arg)
        self.generic_visit(node)
        return node

    def _renamed_definition(self, node: ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef) -> ast.AST:
        node.name = self.renames.get(node.name, node.name)
        self.generic_visit(node)
        return node

    visit_FunctionDef = visit_AsyncFunctionDef = visit_ClassDef = _renamed_definition

    def visit_Global(self, node: ast.Global) -> ast.Global:
        node.names = [self.renames.get(n, n) for n in node.names]
        return node


def _composite(class_name: str, name: str, parts: Sequence[_Part]) -> list[str]:
    with_hook = {h: [i for i, p in enumerate(parts) if h in p.hooks] for h in ALL_HOOKS}
    out = [f"class {class_name}:", f"    name = {name!r}", "", "    def __init__(self):"]
    out += [f"        self.part{i} = {p.class_name}()" for i, p in enumerate(parts)]
    if with_hook["guide"]:
        out += ["", "    def guide(self, ctx):", "        focus, avoid, notes = [], [], []"]
        for i in with_hook["guide"]:
            out += [f"        hints = self.part{i}.guide(ctx) or {{}}",
                    "        focus += [n for n in hints.get('focus', []) if n not in focus]",
                    "        avoid += [n for n in hints.get('avoid', []) if n not in avoid]",
                    "        notes += [hints['note']] if hints.get('note') else []"]
        out += ["        if not (focus or avoid or notes):", "            return None",
                "        return {'focus': focus, 'avoid': avoid, 'note': ' | '.join(notes)[:2000]}"]
    for hook, call in (("propose", "propose(ctx)"), ("accept", "accept(trial, incumbent, ctx)")):
        if with_hook[hook]:
            args = call.split("(", 1)[1]
            out += ["", f"    def {hook}(self, {args}:"]
            for i in with_hook[hook]:
                out += [f"        answer = self.part{i}.{call}", "        if answer is not None:",
                        "            return answer"]
            out += ["        return None"]
    if with_hook["review"]:
        out += ["", "    def review(self, proposal, ctx):", "        current, changed = proposal, None"]
        for i in with_hook["review"]:
            out += [f"        answer = self.part{i}.review(current, ctx)", "        if answer is not None:",
                    "            if 'reject' in answer:", "                return answer",
                    "            current, changed = answer['replace'], answer"]
        out += ["        return changed"]
    if with_hook["observe"]:
        out += ["", "    def observe(self, trial, ctx):"]
        out += [f"        self.part{i}.observe(trial, ctx)" for i in with_hook["observe"]]
    if with_hook["state_dict"]:
        out += ["", "    def state_dict(self):", "        return {"]
        out += [f"            'part{i}': self.part{i}.state_dict()," for i in with_hook["state_dict"]]
        out += ["        }"]
    if with_hook["load_state_dict"]:
        out += ["", "    def load_state_dict(self, state):"]
        for i in with_hook["load_state_dict"]:
            out += [f"        if 'part{i}' in state:", f"            self.part{i}.load_state_dict(state['part{i}'])"]
    return out
