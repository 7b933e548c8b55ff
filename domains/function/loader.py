"""Load an objective file (SPACE, DIRECTION, objective) into a checked ObjectiveFile.

Built-in benchmarks in domains/objectives/ are files in the same format, loaded the same way.
"""

from __future__ import annotations

import ast
import hashlib
import importlib.util
import math
import numbers
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast

from bilevel_evolve.ground.errors import UsageError
from bilevel_evolve.ground.records import Direction
from bilevel_evolve.ground.space import SearchSpace

BUILTIN_DIR = Path(__file__).resolve().parent.parent / "objectives"

_FORMAT = (
    "an objective file defines SPACE = {name: {type, low, high, default} | {type: 'choice', choices, "
    "default}}, DIRECTION = 'minimize' | 'maximize', and def objective(params: dict) -> float"
)


@dataclass(frozen=True)
class ObjectiveFile:
    path: Path
    name: str
    space: SearchSpace
    direction: Direction
    objective: Callable[[dict[str, Any]], Any]
    optimum: float | None
    doc: str
    sha256: str
    builtin: bool


def builtin_names() -> list[str]:
    return sorted(p.stem for p in BUILTIN_DIR.glob("*.py") if not p.stem.startswith("_"))


def builtin_summary(name: str) -> str:
    """First line of a built-in's docstring, read without running it."""
    doc = ast.get_docstring(ast.parse((BUILTIN_DIR / f"{name}.py").read_text(encoding="utf-8"))) or name
    return doc.splitlines()[0]


def load_builtin(name: str) -> ObjectiveFile:
    if name not in builtin_names():
        raise UsageError(f"no built-in objective named {name!r}",
                         f"use one of: {', '.join(builtin_names())}, or a path to your own .py file")
    return load_objective_file(BUILTIN_DIR / f"{name}.py", builtin=True)


def load_objective_file(path: Path, *, builtin: bool = False) -> ObjectiveFile:
    path = Path(path)
    if not path.is_file():
        raise UsageError(f"objective file {path} does not exist",
                         "pass the path of a .py file, or a built-in name: " + ", ".join(builtin_names()))
    if path.suffix != ".py":
        raise UsageError(f"objective file {path} is not a .py file", _FORMAT)
    source = path.read_bytes()
    module = _execute(path, source)
    where = str(path)

    if not hasattr(module, "SPACE"):
        raise UsageError(f"{where} defines no SPACE", _FORMAT)
    space = SearchSpace.from_dict(module.SPACE, source=where)

    direction = getattr(module, "DIRECTION", "minimize")
    if direction not in ("minimize", "maximize"):
        raise UsageError(f"{where}: DIRECTION is {direction!r}",
                         'set DIRECTION = "minimize" or DIRECTION = "maximize"')

    objective = getattr(module, "objective", None)
    if objective is None:
        raise UsageError(f"{where} defines no objective function",
                         "add def objective(params: dict) -> float: ... returning the metric")
    if not callable(objective):
        raise UsageError(f"{where}: objective is a {type(objective).__name__}, not a function",
                         "define it with def objective(params: dict) -> float:")

    optimum = getattr(module, "OPTIMUM", None)
    if optimum is not None and not _is_real(optimum):
        raise UsageError(f"{where}: OPTIMUM is {optimum!r}, not a number",
                         "set OPTIMUM to the known best value, or remove it")
    return ObjectiveFile(
        path=path.resolve(), name=path.stem, space=space, direction=cast(Direction, direction),
        objective=objective, optimum=None if optimum is None else float(optimum),
        doc=(module.__doc__ or "").strip(), sha256=hashlib.sha256(source).hexdigest(), builtin=builtin,
    )


def _execute(path: Path, source: bytes) -> Any:
    module_name = "evolve_objective_" + hashlib.sha256(str(path.resolve()).encode()).hexdigest()[:16]
    spec = importlib.util.spec_from_file_location(module_name, path)
    if spec is None or spec.loader is None:
        raise UsageError(f"cannot load {path} as a Python module", _FORMAT)
    try:
        code = compile(source, str(path), "exec")
    except SyntaxError as exc:
        raise UsageError(f"{path}:{exc.lineno}: syntax error: {exc.msg}",
                         "fix the syntax; python -m py_compile FILE shows the same error") from None
    except ValueError as exc:  # e.g. null bytes in the source
        raise UsageError(f"{path}: not valid Python source: {exc}", _FORMAT) from None
    module = importlib.util.module_from_spec(spec)
    sys.modules[module_name] = module  # dataclasses and pickling look the module up by name
    try:
        exec(code, module.__dict__)
    except (Exception, SystemExit) as exc:
        sys.modules.pop(module_name, None)
        raise UsageError(
            f"{path}: loading it raised {type(exc).__name__}: {exc}",
            "make the file importable on its own (module-level code runs once at load; "
            "imports must be installed in the engine's environment)",
        ) from None
    return module


def _is_real(value: Any) -> bool:
    return isinstance(value, numbers.Real) and not isinstance(value, bool)


def as_finite_number(value: Any) -> float | None:
    """The objective's return value as a float, or None when it is not a finite real number."""
    if not _is_real(value):
        return None
    number = float(value)
    return number if math.isfinite(number) else None
