"""What the engine needs from a mechanism module's shape: nothing runs at import time but pure
definitions, and exactly one `MECHANISM = ClassName` names a class defined in the file."""

from __future__ import annotations

import ast
from dataclasses import dataclass, field

from bilevel_evolve.ground.contract.interface import ALL_HOOKS, HOOK_SIGNATURES
from bilevel_evolve.sandbox.gate.models import Violation
from bilevel_evolve.sandbox.gate.rules import ALLOWED_DECORATORS, PURE_CALL_MODULES, PURE_CALLS

_FIX_MOVE = "move it into a method (for example __init__) so it runs when the engine calls the mechanism"


@dataclass
class Structure:
    mechanism_class: str | None = None
    hooks: tuple[str, ...] = ()
    violations: list[Violation] = field(default_factory=list)

    def add(self, node: ast.AST | None, rule: str, message: str) -> None:
        self.violations.append(
            Violation(
                line=getattr(node, "lineno", None),
                col=getattr(node, "col_offset", None),
                rule=rule,
                message=message,
            )
        )


def _dotted(node: ast.expr) -> str | None:
    parts: list[str] = []
    while isinstance(node, ast.Attribute):
        parts.append(node.attr)
        node = node.value
    if isinstance(node, ast.Name):
        parts.append(node.id)
        return ".".join(reversed(parts))
    return None


def is_static(node: ast.expr | None) -> bool:
    """An expression that only builds values: literals, names, operators, pure constructor calls."""
    if node is None:
        return True
    stack: list[ast.AST] = [node]
    while stack:
        current = stack.pop()
        if isinstance(current, ast.Call):
            name = _dotted(current.func)
            if name is None:
                return False
            head, _, last = name.rpartition(".")
            if last not in PURE_CALLS and head not in PURE_CALL_MODULES:
                return False
            stack.extend(current.args)
            stack.extend(kw.value for kw in current.keywords)
        elif isinstance(
            current,
            (
                ast.ListComp,
                ast.SetComp,
                ast.DictComp,
                ast.GeneratorExp,
                ast.Await,
                ast.Yield,
                ast.YieldFrom,
                ast.NamedExpr,
            ),
        ):
            return False
        elif isinstance(current, ast.Lambda):
            # The body runs later; only the defaults run now.
            stack.extend(current.args.defaults)
            stack.extend(d for d in current.args.kw_defaults if d is not None)
        else:
            stack.extend(ast.iter_child_nodes(current))
    return True


def _describe(node: ast.stmt) -> str:
    if isinstance(node, ast.Expr) and isinstance(node.value, ast.Call):
        name = _dotted(node.value.func) or "a function"
        return f"the call {name}(...) runs at import time"
    kinds = {
        ast.If: "an `if` block",
        ast.For: "a `for` loop",
        ast.While: "a `while` loop",
        ast.With: "a `with` block",
        ast.Try: "a `try` block",
        ast.Expr: "an expression statement",
        ast.AugAssign: "an augmented assignment",
        ast.Delete: "a `del` statement",
        ast.Raise: "a `raise` statement",
        ast.Assert: "an `assert` statement",
        ast.Global: "a `global` statement",
    }
    return f"{kinds.get(type(node), type(node).__name__)} runs at import time"


def _check_decorators(node: ast.FunctionDef | ast.ClassDef, out: Structure) -> None:
    for decorator in node.decorator_list:
        arguments: list[ast.expr] = []
        target = decorator
        if isinstance(decorator, ast.Call):
            target = decorator.func
            arguments = [*decorator.args, *(kw.value for kw in decorator.keywords)]
        name = _dotted(target)
        last = name.rpartition(".")[2] if name else None
        if last not in ALLOWED_DECORATORS or not all(is_static(a) for a in arguments):
            out.add(
                decorator,
                "module-level",
                f"decorator @{name or '...'} on {node.name!r} runs at import time; only "
                f"{', '.join(sorted(ALLOWED_DECORATORS))} are allowed there — call the function "
                "explicitly inside a method instead",
            )


def _check_function(node: ast.FunctionDef, out: Structure) -> None:
    _check_decorators(node, out)
    args = node.args
    defaults = [*args.defaults, *(d for d in args.kw_defaults if d is not None)]
    for default in defaults:
        if not is_static(default):
            out.add(
                default,
                "module-level",
                f"default value of a parameter of {node.name!r} is computed at import time; "
                "use None as the default and compute the value inside the function",
            )


def _check_assign(node: ast.Assign | ast.AnnAssign, out: Structure, where: str) -> None:
    targets = node.targets if isinstance(node, ast.Assign) else [node.target]
    for target in targets:
        names = target.elts if isinstance(target, (ast.Tuple, ast.List)) else [target]
        for name in names:
            if not isinstance(name, ast.Name):
                out.add(
                    node,
                    "module-level",
                    f"{where} assignment may only bind plain names (this one changes an object); {_FIX_MOVE}",
                )
    if not is_static(node.value):
        out.add(
            node,
            "module-level",
            f"{where} assignment computes its value at import time (only literals, names and "
            f"pure constructors such as tuple(), frozenset(), math.* are allowed); {_FIX_MOVE}",
        )


def _is_docstring(node: ast.stmt) -> bool:
    return isinstance(node, ast.Expr) and isinstance(node.value, ast.Constant)


def _check_class_body(node: ast.ClassDef, out: Structure) -> None:
    _check_decorators(node, out)
    for base in [*node.bases, *(kw.value for kw in node.keywords)]:
        if _dotted(base) is None and not is_static(base):
            out.add(
                base, "module-level", f"base class of {node.name!r} is computed at import time; name a class directly"
            )
    for stmt in node.body:
        if isinstance(stmt, ast.FunctionDef):
            _check_function(stmt, out)
        elif isinstance(stmt, ast.ClassDef):
            _check_class_body(stmt, out)
        elif isinstance(stmt, (ast.Assign, ast.AnnAssign)):
            _check_assign(stmt, out, "class-level")
        elif not (_is_docstring(stmt) or isinstance(stmt, ast.Pass)):
            out.add(stmt, "module-level", f"in the body of class {node.name!r}, {_describe(stmt)}; {_FIX_MOVE}")


def _class_members(cls: ast.ClassDef, classes: dict[str, ast.ClassDef]) -> dict[str, ast.stmt]:
    """Methods and attributes of a class, including those of base classes defined in the module."""
    members: dict[str, ast.stmt] = {}
    seen: set[str] = set()
    order: list[ast.ClassDef] = []
    pending = [cls]
    while pending:
        current = pending.pop(0)
        if current.name in seen:
            continue
        seen.add(current.name)
        order.append(current)
        pending.extend(classes[b.id] for b in current.bases if isinstance(b, ast.Name) and b.id in classes)
    for current in order:
        for stmt in current.body:
            if isinstance(stmt, ast.FunctionDef):
                members.setdefault(stmt.name, stmt)
            elif isinstance(stmt, (ast.Assign, ast.AnnAssign)):
                targets = stmt.targets if isinstance(stmt, ast.Assign) else [stmt.target]
                for t in targets:
                    if isinstance(t, ast.Name):
                        members.setdefault(t.id, stmt)
    return members


def _check_hook_signature(fn: ast.FunctionDef, out: Structure) -> None:
    expected = HOOK_SIGNATURES[fn.name]
    positional = [*fn.args.posonlyargs, *fn.args.args]
    required = len(positional) - len(fn.args.defaults)
    takes_all = len(positional) >= len(expected) or fn.args.vararg is not None
    kw_required = any(d is None for d in fn.args.kw_defaults)
    if required > len(expected) or not takes_all or kw_required:
        out.add(
            fn,
            "hook-signature",
            f"hook {fn.name}() is called as {fn.name}({', '.join(expected[1:])}); "
            f"define it as `def {fn.name}({', '.join(expected)}):`",
        )


def _check_mechanism(module: ast.Module, out: Structure) -> None:
    classes: dict[str, ast.ClassDef] = {}
    other_defs: dict[str, str] = {}
    assignments: list[tuple[ast.stmt, ast.expr | None]] = []
    for stmt in module.body:
        if isinstance(stmt, ast.ClassDef):
            classes[stmt.name] = stmt
        elif isinstance(stmt, ast.FunctionDef):
            other_defs[stmt.name] = "a function"
        elif isinstance(stmt, (ast.Import, ast.ImportFrom)):
            for alias in stmt.names:
                other_defs[(alias.asname or alias.name).split(".")[0]] = "an imported name"
        elif isinstance(stmt, (ast.Assign, ast.AnnAssign)):
            targets = stmt.targets if isinstance(stmt, ast.Assign) else [stmt.target]
            if any(isinstance(t, ast.Name) and t.id == "MECHANISM" for t in targets):
                assignments.append((stmt, stmt.value))
    # Any other binding of MECHANISM (loops, tuples, functions, `global`) would make it ambiguous.
    stray = [
        n
        for n in ast.walk(module)
        if isinstance(n, ast.Name) and n.id == "MECHANISM" and isinstance(n.ctx, (ast.Store, ast.Del))
    ]
    if not assignments:
        out.add(
            None,
            "mechanism",
            "no `MECHANISM = ClassName` at module level; add it as the last line, naming the "
            "mechanism class defined above",
        )
        return
    if len(stray) != 1 or len(assignments) != 1 or "MECHANISM" in classes or "MECHANISM" in other_defs:
        out.add(
            assignments[-1][0],
            "mechanism",
            "MECHANISM is bound more than once; keep exactly one `MECHANISM = ClassName` at module level",
        )
        return
    stmt, value = assignments[0]
    if not isinstance(value, ast.Name):
        out.add(
            stmt,
            "mechanism",
            "MECHANISM must be the bare name of a class defined in this file, as in "
            "`MECHANISM = TabuSearch` (not a string, call or attribute)",
        )
        return
    cls = classes.get(value.id)
    if cls is None or cls.lineno > stmt.lineno:
        what = other_defs.get(value.id)
        if cls is not None:
            reason = f"class {value.id!r} is defined after the assignment; move `MECHANISM = {value.id}` below it"
        elif what:
            reason = f"{value.id!r} is {what}, not a class; point MECHANISM at the mechanism class"
        else:
            reason = f"no class {value.id!r} is defined at module level; define it or fix the name"
        out.add(stmt, "mechanism", f"MECHANISM = {value.id}: {reason}")
        return
    out.mechanism_class = cls.name
    members = _class_members(cls, classes)
    name_attr = members.get("name")
    if not (
        isinstance(name_attr, (ast.Assign, ast.AnnAssign))
        and isinstance(name_attr.value, ast.Constant)
        and isinstance(name_attr.value.value, str)
        and name_attr.value.value.strip()
    ):
        out.add(
            cls,
            "mechanism",
            f'class {cls.name!r} needs a class attribute `name = "short-kebab-name"` (a non-empty '
            "string literal) so the archive and the trace can name it",
        )
    hooks = [h for h in ALL_HOOKS if isinstance(members.get(h), ast.FunctionDef)]
    for hook in hooks:
        fn = members[hook]
        assert isinstance(fn, ast.FunctionDef)
        _check_hook_signature(fn, out)
    has_save, has_load = "state_dict" in hooks, "load_state_dict" in hooks
    if has_save != has_load:
        missing = "load_state_dict(self, state)" if has_save else "state_dict(self)"
        out.add(
            cls,
            "mechanism",
            f"class {cls.name!r} defines only one of state_dict/load_state_dict; add {missing} "
            "so checkpoints can be saved and restored",
        )
    out.hooks = tuple(hooks)


def check_structure(module: ast.Module) -> Structure:
    out = Structure()
    for stmt in module.body:
        if isinstance(stmt, (ast.Import, ast.ImportFrom, ast.Pass)):
            continue
        if isinstance(stmt, ast.ClassDef):
            _check_class_body(stmt, out)
        elif isinstance(stmt, ast.FunctionDef):
            _check_function(stmt, out)
        elif isinstance(stmt, (ast.Assign, ast.AnnAssign)):
            _check_assign(stmt, out, "module-level")
        elif _is_docstring(stmt):
            continue
        else:
            out.add(
                stmt,
                "module-level",
                f"{_describe(stmt)}; a mechanism module may only import, define classes and "
                f"functions, and assign constants — {_FIX_MOVE}",
            )
    _check_mechanism(module, out)
    return out
