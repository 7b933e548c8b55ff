"""Which module an import or an attribute chain rooted at a module reaches, and whether the policy lets
a mechanism reach it: the submodule allowlist.

For a module the census knows (sandbox/gate/census.py: the default allowed imports and submodules), a
public name that is a module may be stepped into only when the policy allows that submodule; any other
name is a member (a function, class or constant). A module without a census (a package a policy adds,
such as json) keeps the old rule: its public attributes are open. A prefix of an allowed submodule that
is not allowed itself (torch.utils, when a policy allows torch.utils.data) is only a passage to it.
"""

from __future__ import annotations

import ast
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from bilevel_evolve.sandbox.gate.census import MODULES
from bilevel_evolve.sandbox.gate.models import GatePolicy
from bilevel_evolve.sandbox.gate.rules import DANGEROUS_MEMBERS


@dataclass(frozen=True)
class Reach:
    """Where a dotted path rooted at a module ends."""

    module: str | None = None  # the module it names; None for a member, or past what the census knows
    denied: str | None = None  # the first submodule (or member) on the path a mechanism may not use
    kind: str = ""  # "submodule" or "member" when denied


class ModuleReach:
    def __init__(self, policy: GatePolicy, census: Mapping[str, frozenset[str]] = MODULES) -> None:
        self.roots = frozenset(policy.allowed_imports)
        self.allowed = frozenset(policy.allowed_submodules)
        prefixes = {".".join(path.split(".")[:i]) for path in self.allowed for i in range(1, path.count(".") + 1)}
        self.passages = frozenset(prefixes - self.allowed - self.roots)
        self.census = census

    def walk(self, module: str, attributes: Sequence[str]) -> Reach:
        """Follow `module.a.b...` one attribute at a time."""
        current = module
        for attribute in attributes:
            child = f"{current}.{attribute}"
            if child in self.allowed or child in self.passages:
                current = child
                continue
            if current in self.passages:
                return Reach(denied=child, kind="submodule")
            names = self.census.get(current)
            if names is None:
                return Reach()
            if attribute in names:
                return Reach(denied=child, kind="submodule")
            if attribute in DANGEROUS_MEMBERS.get(current, ()):
                return Reach(denied=child, kind="member")
            return Reach()
        return Reach(module=current)

    def importable(self, module: str) -> Reach:
        """`import module`: the root is checked against allowed_imports elsewhere; every step after it
        must be a submodule the policy allows, unless it enters a package the census does not know."""
        root, *rest = module.split(".")
        current = root
        for attribute in rest:
            if current not in self.census and current not in self.passages:
                return Reach()
            reach = self.walk(current, [attribute])
            if reach.module is None:
                return reach if reach.denied else Reach(denied=f"{current}.{attribute}", kind="submodule")
            current = reach.module
        return Reach(module=current)

    def allowed_under(self, path: str) -> str:
        """The allowed submodules of the root package of `path`, for a message."""
        root = path.split(".")[0]
        listed = sorted(p for p in self.allowed if p.split(".")[0] == root)
        return ", ".join(listed) or "none"


def module_aliases(tree: ast.AST, reach: ModuleReach) -> dict[str, str]:
    """Names bound to modules anywhere in the tree, and the module each names: `import x` and
    `import x.y` bind x, `import x.y as z` binds z to x.y, `from x import y` binds y when x.y is a module."""
    aliases: dict[str, str] = {}
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.asname:
                    aliases[alias.asname] = alias.name
                else:
                    root = alias.name.split(".")[0]
                    aliases[root] = root
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            for alias in node.names:
                if alias.name != "*" and reach.walk(node.module, [alias.name]).module is not None:
                    aliases[alias.asname or alias.name] = f"{node.module}.{alias.name}"
    return aliases


def attribute_chain(node: ast.Attribute) -> tuple[str, list[str]] | None:
    """`a.b.c` as ("a", ["b", "c"]); None when the chain does not start at a plain name."""
    attributes: list[str] = []
    current: ast.expr = node
    while isinstance(current, ast.Attribute):
        attributes.append(current.attr)
        current = current.value
    if isinstance(current, ast.Name):
        return current.id, attributes[::-1]
    return None
