"""The package graph: one namespace, and dependencies that run one way (docs/ARCHITECTURE.md).

ground            imports nothing of ours
ground.contract   the standard library only (it runs inside the sandbox container)
sandbox.guest     the standard library and ground.contract only (copied whole into the image)
sandbox, domains, mechanism_archive   ground (and themselves), never engine nor each other
engine            anything below it; engine.cli is the roof: nothing else imports it
Every import counts: module level, inside functions, and under TYPE_CHECKING.
"""

from __future__ import annotations

import ast
import sys
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
NS = "bilevel_evolve"
FOLDERS = ("ground", "sandbox", "domains", "mechanism_archive", "engine")
STDLIB = set(sys.stdlib_module_names) | {"__future__"}

# What each layer may import of ours, longest prefix first.
ALLOWED: dict[str, tuple[str, ...]] = {
    "ground.contract": ("ground.contract",),
    "sandbox.guest": ("sandbox.guest", "ground.contract"),
    "ground": ("ground",),
    "sandbox": ("sandbox", "ground"),
    "domains": ("domains", "ground"),
    "mechanism_archive": ("mechanism_archive", "ground"),
    "engine.cli": ("engine", "sandbox", "domains", "mechanism_archive", "ground"),
    "engine": ("engine.ablation", "engine.agents", "engine.analysis", "engine.llm", "engine.mechanisms",
               "engine.outer", "engine.reports", "engine.run", "engine.wiring", "engine",
               "sandbox", "domains", "mechanism_archive", "ground"),
}
STDLIB_ONLY = ("ground.contract", "sandbox.guest")


def _modules() -> dict[str, Path]:
    found = {}
    for folder in FOLDERS:
        for path in (ROOT / folder).rglob("*.py"):
            rel = path.relative_to(ROOT).with_suffix("")
            parts = rel.parts[:-1] if rel.name == "__init__" else rel.parts
            found[".".join(parts)] = path
    return found


def _imports(path: Path, module: str) -> list[tuple[int, str]]:
    tree = ast.parse(path.read_bytes(), filename=str(path))
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    out: list[tuple[int, str]] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            out.extend((node.lineno, alias.name) for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:  # relative: resolve against our own package
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                name = ".".join([NS, *base, *([node.module] if node.module else [])])
            else:
                name = node.module or ""
            out.append((node.lineno, name))
    return out


def _layer(module: str) -> str:
    return next(layer for layer in sorted(ALLOWED, key=len, reverse=True)
                if module == layer or module.startswith(layer + "."))


def _ours(name: str) -> str | None:
    if name == NS or name.startswith(NS + "."):
        return name[len(NS) + 1:]
    return None


MODULES = _modules()


def test_every_module_is_under_the_one_namespace_and_imports_ours_only_through_it() -> None:
    bare = []
    for module, path in MODULES.items():
        for line, name in _imports(path, module):
            if name.split(".")[0] in FOLDERS:
                bare.append(f"{path.relative_to(ROOT)}:{line} imports {name} (use {NS}.{name})")
    assert not bare, "\n".join(bare)


@pytest.mark.parametrize("module", sorted(MODULES))
def test_imports_follow_the_one_way_rule(module: str) -> None:
    layer = _layer(module)
    allowed = ALLOWED[layer]
    bad = []
    for line, name in _imports(MODULES[module], module):
        ours = _ours(name)
        if ours is None:
            if layer in STDLIB_ONLY and name.split(".")[0] not in STDLIB:
                bad.append(f"line {line}: {name} is not in the standard library ({layer} runs in the container)")
            continue
        if ours.startswith("engine.cli") and layer != "engine.cli":
            bad.append(f"line {line}: {name}: only the CLI itself imports the CLI")
        elif not any(ours == a or ours.startswith(a + ".") for a in allowed):
            bad.append(f"line {line}: {layer} may not import {name}")
    assert not bad, f"{MODULES[module].relative_to(ROOT)}:\n" + "\n".join(bad)


def test_pyproject_lists_every_package_and_maps_every_folder() -> None:
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]
    on_disk = {f"{NS}." + ".".join(d.relative_to(ROOT).parts) for folder in FOLDERS
               for d in [ROOT / folder, *(ROOT / folder).rglob("*")]
               if d.is_dir() and d.name != "__pycache__" and any(f.is_file() for f in d.iterdir())}
    assert set(config["packages"]) == on_disk
    assert config["package-dir"] == {f"{NS}.{folder}": folder for folder in FOLDERS}


def test_no_engine_module_reaches_into_the_loop_from_a_layer_below() -> None:
    """The rule's point, said once more by name: the sandbox (the security boundary) never imports engine."""
    offenders = [m for m in MODULES if _layer(m) in ("sandbox", "sandbox.guest")
                 and any((_ours(n) or "").startswith("engine") for _, n in _imports(MODULES[m], m))]
    assert not offenders
