"""The gate's import rules, and how it reports a module path it may not reach: a mixin of the policy
in transformer.py (MechanismPolicy), which supplies `report`, `check_name`, `policy` and `reach`."""

from __future__ import annotations

import ast
from typing import TYPE_CHECKING

from bilevel_evolve.sandbox.gate.census import METACLASSES
from bilevel_evolve.sandbox.gate.models import GatePolicy
from bilevel_evolve.sandbox.gate.reach import ModuleReach, Reach
from bilevel_evolve.sandbox.gate.rules import (
    DANGEROUS_ATTRIBUTES,
    FORBIDDEN_BUILTINS,
    FORMAT_ATTRIBUTES,
    FRAME_ATTRIBUTES,
    is_dangerous_module,
)


class ImportChecks:
    policy: GatePolicy
    reach: ModuleReach

    if TYPE_CHECKING:
        def report(self, node: ast.AST, rule: str, message: str) -> None: ...

        def check_name(self, node: ast.AST, name: str | None, allow_magic_methods: bool = False) -> None: ...

    def _report_metaclass(self, node: ast.AST, name: str) -> None:
        self.report(
            node,
            "metaclass",
            f"{name!r} is a metaclass: calling it builds a class with any dunder method, past the gate's "
            "class checks; define classes with a class statement",
        )

    def _report_unreachable(self, node: ast.AST, reach: Reach) -> None:
        assert reach.denied is not None
        if reach.kind == "member":
            self.report(
                node,
                "attribute",
                f"{reach.denied!r} imports a module by name, touches files or compiles code; a mechanism "
                "may only compute with its inputs — remove it",
            )
            return
        self.report(
            node,
            "submodule",
            f"{reach.denied!r} is not one of the submodules a mechanism may use (allowed: "
            f"{self.reach.allowed_under(reach.denied)}); do the work with those",
        )

    def _allowed_list(self) -> str:
        return ", ".join(self.policy.allowed_imports)

    def _check_module_path(self, node: ast.AST, module: str) -> bool:
        parts = module.split(".")
        if parts[0] == "__future__" and len(parts) == 1:
            return "__future__" in self.policy.allowed_imports
        for part in parts:
            if part.startswith("_") or is_dangerous_module(part):
                why = (
                    "private module"
                    if part.startswith("_") and not is_dangerous_module(part)
                    else ("reaches files, processes, the network or the interpreter")
                )
                self.report(
                    node,
                    "import",
                    f"import of {module!r} is not allowed ({why}; allowed: "
                    f"{self._allowed_list()}); do the work with the allowed modules",
                )
                return False
        if not self.policy.allows_import(module):
            self.report(
                node,
                "import",
                f"import of {module!r} is not allowed (allowed: {self._allowed_list()}); rewrite it with "
                "the allowed modules, or ask the user to add it to the gate policy",
            )
            return False
        reach = self.reach.importable(module)
        if reach.denied is not None:
            self.report(
                node,
                "import",
                f"import of {module!r} is not allowed ({reach.denied!r} is not one of the submodules a "
                f"mechanism may use: {self.reach.allowed_under(reach.denied)}); do the work with those",
            )
            return False
        return True

    def visit_Import(self, node: ast.Import) -> ast.AST:
        for alias in node.names:
            if self._check_module_path(node, alias.name) and alias.asname:
                self.check_name(node, alias.asname)
        return node

    def visit_ImportFrom(self, node: ast.ImportFrom) -> ast.AST:
        if node.level:
            self.report(
                node,
                "import",
                "relative imports are not allowed (a mechanism is a single module); "
                f"import only from: {self._allowed_list()}",
            )
            return node
        module = node.module or ""
        if not self._check_module_path(node, module):
            return node
        for alias in node.names:
            name = alias.name
            if name == "*":
                self.report(
                    node, "import", f"'from {module} import *' is not allowed; import the names you use explicitly"
                )
            elif module == "__future__":
                continue
            elif (
                name.startswith("_")
                or is_dangerous_module(name)
                or name in DANGEROUS_ATTRIBUTES
                or name in FRAME_ATTRIBUTES
                or name in FORMAT_ATTRIBUTES
                or name in FORBIDDEN_BUILTINS
            ):
                self.report(
                    node,
                    "import",
                    f"importing {name!r} from {module!r} is not allowed (private, or it "
                    "reaches files, code or the host); compute with its public math instead",
                )
            else:
                reach = self.reach.walk(module, [name])
                if reach.denied is not None:
                    self._report_unreachable(node, reach)
                elif name in METACLASSES:
                    self._report_metaclass(node, name)
            if alias.asname:
                self.check_name(node, alias.asname)
        return node
