"""The RestrictedPython policy the gate applies at compile time.

The transformed tree is thrown away: the mechanism later runs unmodified inside a container, so
this class only *finds* violations. It relaxes RestrictedPython for ordinary class code (private
names and `self._state`, augmented assignment of attributes and items, `super().__init__()`,
annotated assignments, dunder method definitions from an allowlist) and tightens it where the
escapes are (any reference to a forbidden builtin, module traversal, format-string traversal,
private attributes off anything but `self`/`cls`, modules used as values, an import allowlist).
Node types RestrictedPython does not know stay rejected by its `generic_visit` (fail closed).
"""

from __future__ import annotations

import ast
import string

from RestrictedPython.transformer import RestrictingNodeTransformer

from bilevel_evolve.sandbox.gate.annotations import string_annotations
from bilevel_evolve.sandbox.gate.census import METACLASSES
from bilevel_evolve.sandbox.gate.import_checks import ImportChecks
from bilevel_evolve.sandbox.gate.models import GatePolicy, Violation
from bilevel_evolve.sandbox.gate.reach import ModuleReach, attribute_chain
from bilevel_evolve.sandbox.gate.rules import (
    ALLOWED_DUNDER_ATTRIBUTES,
    ALLOWED_DUNDER_METHODS,
    ALLOWED_DUNDER_STORES,
    DANGEROUS_ATTRIBUTES,
    FORBIDDEN_BUILTINS,
    FORMAT_ATTRIBUTES,
    FRAME_ATTRIBUTES,
    SELF_NAMES,
    is_dangerous_module,
    is_dunder,
)

_UNSUPPORTED = {
    "Match": ("`match` statements", "use if/elif instead"),
    "TryStar": ("`except*` handlers", "use a plain try/except"),
    "Nonlocal": ("`nonlocal` statements", "keep the value on self instead"),
    "AsyncFunctionDef": ("`async def` functions", "hooks are synchronous; use a plain def"),
    "AsyncFor": ("`async for` loops", "hooks are synchronous; use a plain for loop"),
    "AsyncWith": ("`async with` blocks", "hooks are synchronous; use a plain with block"),
    "Await": ("`await` expressions", "hooks are synchronous; remove await"),
}


_TYPE_MESSAGE = (
    "`type` may only be called with one argument and compared, as in `type(x) is float`: three-argument "
    "type() builds a class with any dunder method, and type(type) is type itself; use isinstance(), or a "
    "class statement"
)
_TYPE_METHOD_MESSAGE = (
    "`.type(...)` with an argument looks a type up by its dotted name, importing its module, and calls it "
    "(torch's Tensor.type); convert with .to(dtype), .double() or .float() instead (reading `.type` in a "
    "comparison and calling `.type()` without arguments are allowed)"
)


def _format_fields_are_plain(text: str) -> bool:
    """True when every replacement field of a str.format template is a bare index or name."""
    pending = [text]
    while pending:
        for _literal, field_name, spec, _conv in string.Formatter().parse(pending.pop()):
            if field_name is None:
                continue
            if field_name and not (field_name.isdigit() or field_name.isidentifier()):
                return False
            if spec and "{" in spec:
                pending.append(spec)
    return True


class MechanismPolicy(ImportChecks, RestrictingNodeTransformer):
    def __init__(self, policy: GatePolicy, reach: ModuleReach, module_aliases: dict[str, str]) -> None:
        super().__init__()
        self.policy = policy
        self.reach = reach
        self.module_aliases = module_aliases
        self.violations: list[Violation] = []
        self._attribute_bases: set[int] = set()
        # `type` and `.type` nodes in the forms that are allowed: type(x) compared, x.type() and x.type compared.
        self._plain_type_uses: set[int] = set()
        self._scopes: list[str] = ["module"]

    # -- reporting ---------------------------------------------------------------------------

    def report(self, node: ast.AST, rule: str, message: str) -> None:
        self.violations.append(
            Violation(
                line=getattr(node, "lineno", None),
                col=getattr(node, "col_offset", None),
                rule=rule,
                message=message,
            )
        )

    def error(self, node: ast.AST, info: str) -> None:
        # Errors raised by RestrictedPython's own visitors.
        self.report(node, "restricted", f"{info} Rewrite it with plain statements.")

    def warn(self, node: ast.AST, info: str) -> None:
        return None

    def not_allowed(self, node: ast.AST) -> None:
        kind = type(node).__name__
        what, fix = _UNSUPPORTED.get(kind, (f"{kind} nodes", "rewrite it with ordinary statements"))
        self.report(node, "syntax", f"{what} are not allowed in a mechanism; {fix}")

    # -- names -------------------------------------------------------------------------------

    def check_name(self, node: ast.AST, name: str | None, allow_magic_methods: bool = False) -> None:
        """Names bound by parameters, `except ... as`, imports and definitions."""
        if name is None:
            return
        if is_dunder(name):
            self.report(
                node,
                "dunder",
                f"the name {name!r} is not allowed (dunder names reach interpreter internals); use an ordinary name",
            )
        elif name in FORBIDDEN_BUILTINS:
            self.report(node, "forbidden-name", f"{name!r} may not be rebound or shadowed; pick another name")
        elif name in SELF_NAMES:
            self.report(
                node, "self-rebind", f"{name!r} may only name the first parameter of a method; pick another name"
            )

    def visit_Name(self, node: ast.Name) -> ast.AST:
        name = node.id
        if name in FORBIDDEN_BUILTINS:
            self.report(
                node,
                "forbidden-name",
                f"{name!r} is not allowed, not even as an alias or argument (it runs code, looks attributes "
                "up by string, opens files or the terminal, inspects the interpreter or stops the process); "
                "write the logic directly with ordinary attribute access and the ctx object",
            )
        elif is_dangerous_module(name):
            self.report(
                node,
                "forbidden-name",
                f"the name {name!r} is reserved for a module that touches the host; rename the variable",
            )
        elif is_dunder(name) and not (isinstance(node.ctx, ast.Store) and name in ALLOWED_DUNDER_STORES):
            fix = "remove the `if __name__ == ...` block" if name == "__name__" else "use an ordinary name"
            self.report(
                node, "dunder", f"the name {name!r} is not allowed (dunder names reach interpreter internals); {fix}"
            )
        elif name in SELF_NAMES and not isinstance(node.ctx, ast.Load):
            self.report(node, "self-rebind", f"{name!r} may not be reassigned or deleted; use another name")
        elif name == "type" and isinstance(node.ctx, ast.Load) and id(node) not in self._plain_type_uses:
            self.report(node, "type", _TYPE_MESSAGE)
        elif name in METACLASSES:
            self._report_metaclass(node, name)
        elif name in self.module_aliases and isinstance(node.ctx, ast.Load) and id(node) not in self._attribute_bases:
            self.report(
                node,
                "module-value",
                f"module {name!r} is used as a value; use its members directly (e.g. {name}.something(...)) "
                "instead of storing or passing the module",
            )
        return node

    # -- attributes --------------------------------------------------------------------------

    def _check_module_chain(self, node: ast.Attribute) -> None:
        chain = attribute_chain(node)
        if chain is None or chain[0] not in self.module_aliases:
            return
        reach = self.reach.walk(self.module_aliases[chain[0]], chain[1])
        if reach.denied is not None:
            self._report_unreachable(node, reach)
        elif reach.module is not None and id(node) not in self._attribute_bases:
            self.report(
                node,
                "module-value",
                f"module {reach.module!r} is used as a value; use its members directly "
                f"({'.'.join([chain[0], *chain[1]])}.something(...)) instead of storing or passing the module",
            )

    def visit_Attribute(self, node: ast.Attribute) -> ast.AST:
        attr = node.attr
        self._attribute_bases.add(id(node.value))
        self._check_module_chain(node)
        if attr == "type" and id(node) not in self._plain_type_uses:
            self.report(node, "attribute", _TYPE_METHOD_MESSAGE)
        elif attr in METACLASSES:
            self._report_metaclass(node, attr)
        if is_dunder(attr):
            if attr not in ALLOWED_DUNDER_ATTRIBUTES:
                self.report(
                    node,
                    "dunder",
                    f"attribute {attr!r} is not allowed (only '__init__' may be used, as in "
                    "super().__init__()); use isinstance(), self.name or ordinary attributes instead",
                )
        elif attr.startswith("_") and not (isinstance(node.value, ast.Name) and node.value.id in SELF_NAMES):
            self.report(
                node,
                "private",
                f"private attribute {attr!r} may only be used directly on self or cls (self.{attr}); "
                "make it public or add a method that returns it",
            )
        if is_dangerous_module(attr):
            self.report(
                node,
                "attribute",
                f"attribute {attr!r} reaches a module that touches the host (files, processes, network or "
                "introspection); a mechanism may only compute with its inputs — remove it",
            )
        elif attr in FRAME_ATTRIBUTES:
            self.report(
                node,
                "frame",
                f"attribute {attr!r} walks interpreter frames, code or tracebacks and is not allowed; "
                "remove it (hooks get everything they need through ctx)",
            )
        elif attr in DANGEROUS_ATTRIBUTES:
            self.report(
                node,
                "attribute",
                f"attribute {attr!r} is not allowed (files, code objects, dynamic evaluation or lookup by "
                "string); keep state in memory and use ordinary attribute access",
            )
        elif attr in FORMAT_ATTRIBUTES:
            self.report(
                node, "format", f"{attr!r} resolves fields by attribute lookup at run time; use an f-string instead"
            )
        elif attr == "format":
            self._check_format_receiver(node)
        return self.node_contents_visit(node)

    def _check_format_receiver(self, node: ast.Attribute) -> None:
        receiver = node.value
        if not (isinstance(receiver, ast.Constant) and isinstance(receiver.value, str)):
            self.report(
                node,
                "format",
                "'.format' is only allowed on a string literal (the template could reach attributes "
                "through '{0.__class__}'-style fields); use an f-string instead",
            )
            return
        try:
            plain = _format_fields_are_plain(receiver.value)
        except ValueError:
            plain = False
        if not plain:
            self.report(
                node,
                "format",
                "format fields may only be positions or names ('{0}', '{x:.3f}'), not attribute or item "
                "lookups like '{0.attr}' or '{0[key]}'; use an f-string instead",
            )

    # -- relaxed statements ------------------------------------------------------------------

    def visit_Module(self, node: ast.Module) -> ast.AST:
        return self.node_contents_visit(node)

    def visit_Call(self, node: ast.Call) -> ast.AST:
        # RestrictedPython only flags calls to exec/eval; visit_Name flags every reference.
        if isinstance(node.func, ast.Attribute) and node.func.attr == "type" and not (node.args or node.keywords):
            self._plain_type_uses.add(id(node.func))
        return self.node_contents_visit(node)

    def visit_Compare(self, node: ast.Compare) -> ast.AST:
        for operand in [node.left, *node.comparators]:
            if (
                isinstance(operand, ast.Call)
                and isinstance(operand.func, ast.Name)
                and operand.func.id == "type"
                and len(operand.args) == 1
                and not isinstance(operand.args[0], ast.Starred)
                and not operand.keywords
            ):
                self._plain_type_uses.add(id(operand.func))
            elif isinstance(operand, ast.Attribute) and operand.attr == "type":
                self._plain_type_uses.add(id(operand))
        return self.node_contents_visit(node)

    def _check_annotation(self, annotation: ast.expr | None) -> None:
        for constant, expression in string_annotations(annotation):
            if expression is None:
                self.report(
                    constant,
                    "annotation",
                    "a string annotation may only be a type name or type expression (\"Probe\", \"list[float]\"): "
                    "functools.singledispatch and typing evaluate it as code; write the annotation unquoted "
                    "(with `from __future__ import annotations` if it names a later class)",
                )
            else:
                self.visit(expression)

    def visit_arg(self, node: ast.arg) -> ast.AST:
        self._check_annotation(node.annotation)
        return self.node_contents_visit(node)

    def visit_AugAssign(self, node: ast.AugAssign) -> ast.AST:
        # `self._n += 1` and `counts[k] += 1` are ordinary; targets are checked like any other.
        return self.node_contents_visit(node)

    def visit_AnnAssign(self, node: ast.AnnAssign) -> ast.AST:
        self._check_annotation(node.annotation)
        return self.node_contents_visit(node)

    def visit_ClassDef(self, node: ast.ClassDef) -> ast.AST:
        self.check_name(node, node.name)
        for keyword in node.keywords:
            self.report(
                node,
                "syntax",
                f"class keyword {keyword.arg or '**'}= is not allowed (metaclasses "
                "and class hooks run code at definition time); remove it",
            )
        self._scopes.append("class")
        try:
            return self.node_contents_visit(node)
        finally:
            self._scopes.pop()

    def visit_FunctionDef(self, node: ast.FunctionDef) -> ast.AST:
        in_class = self._scopes[-1] == "class"
        if is_dunder(node.name) and not (in_class and node.name in ALLOWED_DUNDER_METHODS):
            allowed = ", ".join(sorted(ALLOWED_DUNDER_METHODS))
            self.report(
                node,
                "dunder",
                f"defining {node.name!r} is not allowed (allowed inside a class: "
                f"{allowed}); use an ordinary method name",
            )
        self._check_parameters(node, method=in_class)
        self._check_annotation(node.returns)
        self._scopes.append("function")
        try:
            return self.node_contents_visit(node)
        finally:
            self._scopes.pop()

    def visit_Lambda(self, node: ast.Lambda) -> ast.AST:
        self._check_parameters(node, method=False)
        return self.node_contents_visit(node)

    def _check_parameters(self, node: ast.FunctionDef | ast.Lambda, method: bool) -> None:
        args = node.args
        positional = [*args.posonlyargs, *args.args]
        every = [*positional, *args.kwonlyargs, *(a for a in (args.vararg, args.kwarg) if a is not None)]
        first_is_bare = len(args.defaults) < len(positional)
        for arg in every:
            if arg.arg in SELF_NAMES:
                if not (method and positional and arg is positional[0] and first_is_bare):
                    self.report(
                        node,
                        "self-rebind",
                        f"{arg.arg!r} may only name the first parameter of a "
                        "method (without a default); rename this parameter",
                    )
            elif is_dunder(arg.arg):
                self.check_name(node, arg.arg)
