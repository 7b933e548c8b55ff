"""The gate's policy (what is allowed, how big) and its report (what was found, where)."""

from __future__ import annotations

import json
import re
import tomllib
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from bilevel_evolve.ground.contract.interface import (
    DEFAULT_ALLOWED_IMPORTS,
    DEFAULT_ALLOWED_SUBMODULES,
    MAX_SOURCE_BYTES,
)
from bilevel_evolve.ground.errors import UsageError
from bilevel_evolve.sandbox.gate.rules import is_dangerous_module

_MODULE_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*$")

# A report never lists more than this many violations (a hostile source can trigger thousands).
MAX_REPORTED_VIOLATIONS = 100


class GatePolicy(BaseModel):
    """What a mechanism may import and how large it may be. Load one with `GatePolicy.from_file`.

    `allowed_imports` are packages; `allowed_submodules` are the only submodules of the packages the gate
    has a census of (numpy, torch, the standard library defaults) a mechanism may reach, by import or
    through attributes. A package without a census keeps its public submodules open."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    allowed_imports: tuple[str, ...] = DEFAULT_ALLOWED_IMPORTS
    allowed_submodules: tuple[str, ...] = DEFAULT_ALLOWED_SUBMODULES
    max_bytes: int = Field(default=MAX_SOURCE_BYTES, gt=0, le=16 * 1024 * 1024)
    max_lines: int = Field(default=2000, gt=0)
    max_nodes: int = Field(default=20_000, gt=0)
    # AST depth; the checker recurses per level, so this also keeps it far from Python's limit.
    max_depth: int = Field(default=100, gt=0, le=200)

    @field_validator("allowed_imports", "allowed_submodules")
    @classmethod
    def _modules_are_importable_and_safe(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        for module in value:
            if not _MODULE_NAME.match(module) or any(part.startswith("_") for part in module.split(".")[1:]):
                raise ValueError(f"{module!r} is not a public module name")
            if any(is_dangerous_module(part) for part in module.split(".")):
                raise ValueError(
                    f"{module!r} gives access to the host (files, processes, network or "
                    "introspection) and cannot be allowed"
                )
        return tuple(sorted(set(value)))

    @classmethod
    def default(cls) -> GatePolicy:
        return cls()

    def allowing(self, *modules: str) -> GatePolicy:
        """This policy with more importable modules."""
        return self.model_validate({**self.model_dump(), "allowed_imports": (*self.allowed_imports, *modules)})

    def allows_import(self, module: str) -> bool:
        parts = module.split(".")
        return any(".".join(parts[:i]) in self.allowed_imports for i in range(1, len(parts) + 1))

    @classmethod
    def from_file(cls, path: str | Path) -> GatePolicy:
        """Read a policy from JSON or TOML. Besides the fields, `extra_allowed_imports` extends
        the default allowlist instead of replacing it."""
        path = Path(path)
        try:
            text = path.read_text(encoding="utf-8")
            data: Any = tomllib.loads(text) if path.suffix == ".toml" else json.loads(text)
        except (OSError, UnicodeDecodeError, ValueError) as exc:
            raise UsageError(
                f"cannot read gate policy {path}: {exc}",
                'give a readable JSON or TOML file such as {"extra_allowed_imports": ["json"], "max_bytes": 65536}',
            ) from exc
        if isinstance(data, dict) and "gate" in data and isinstance(data["gate"], dict):
            data = data["gate"]
        if not isinstance(data, dict):
            raise UsageError(f"gate policy {path} is not a JSON object / TOML table", "write a mapping")
        try:
            for field, default in (("allowed_imports", DEFAULT_ALLOWED_IMPORTS),
                                   ("allowed_submodules", DEFAULT_ALLOWED_SUBMODULES)):
                extra = data.pop(f"extra_{field}", [])
                if extra:
                    data[field] = (*data.get(field, default), *extra)
            return cls.model_validate(data)
        except (ValidationError, TypeError) as exc:
            raise UsageError(
                f"invalid gate policy {path}: {exc}",
                "allowed keys: allowed_imports, extra_allowed_imports, allowed_submodules, "
                "extra_allowed_submodules, max_bytes, max_lines, max_nodes, max_depth",
            ) from exc


class Violation(BaseModel):
    """One reason the gate rejects a source. `rule` is a stable identifier; `message` names the fix."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    line: int | None
    col: int | None
    rule: str
    message: str


class GateReport(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    ok: bool
    filename: str
    sha256: str
    violations: tuple[Violation, ...] = ()
    mechanism_class: str | None = None
    hooks: tuple[str, ...] = ()
    elapsed_ms: float = 0.0

    @model_validator(mode="after")
    def _ok_means_no_violations(self) -> GateReport:
        if self.ok == bool(self.violations):
            raise ValueError("ok must be true exactly when there are no violations")
        return self

    def to_text(self) -> str:
        if self.ok:
            hooks = ", ".join(self.hooks) or "none"
            return f"{self.filename}: passed the static gate (MECHANISM = {self.mechanism_class}; hooks: {hooks})"
        lines = []
        for v in self.violations:
            where = f"{self.filename}:{v.line}" if v.line is not None else self.filename
            lines.append(f"{where}: {v.message}")
        return "\n".join(lines)

    def to_json(self) -> str:
        return self.model_dump_json(indent=2)
