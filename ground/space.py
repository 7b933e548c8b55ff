"""Typed search space: float/int (optionally log-scaled) and choice parameters."""

from __future__ import annotations

import math
import random
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, ValidationError, model_validator

from bilevel_evolve.ground.contract import unit_space
from bilevel_evolve.ground.errors import SpaceError

Scalar = str | int | float | bool


class _Param(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class FloatParam(_Param):
    type: Literal["float"] = "float"
    low: float
    high: float
    log: bool = False
    default: float

    @model_validator(mode="after")
    def _check(self) -> FloatParam:
        _check_bounds(self.low, self.high, self.log, self.default)
        return self


class IntParam(_Param):
    type: Literal["int"] = "int"
    low: int
    high: int
    log: bool = False
    default: int

    @model_validator(mode="after")
    def _check(self) -> IntParam:
        _check_bounds(self.low, self.high, self.log, self.default)
        return self


class ChoiceParam(_Param):
    type: Literal["choice"] = "choice"
    choices: tuple[Scalar, ...]
    default: Scalar

    @model_validator(mode="after")
    def _check(self) -> ChoiceParam:
        if not self.choices:
            raise ValueError("choices must not be empty")
        if self.default not in self.choices:
            raise ValueError(f"default {self.default!r} is not one of the choices {list(self.choices)}")
        return self


Param = Annotated[FloatParam | IntParam | ChoiceParam, Field(discriminator="type")]
COARSE_INT_VALUES = 10  # an int of fewer values is a handful of options more than a number


def coarse(spec: FloatParam | IntParam | ChoiceParam) -> bool:
    """A parameter a regression over unit space fits badly: a choice, or an int of fewer than
    COARSE_INT_VALUES values."""
    if isinstance(spec, ChoiceParam):
        return True
    return isinstance(spec, IntParam) and spec.high - spec.low + 1 < COARSE_INT_VALUES
_PARAM_ADAPTER: TypeAdapter[Param] = TypeAdapter(Param)


def _check_bounds(low: float, high: float, log: bool, default: float) -> None:
    if not low < high:
        raise ValueError(f"low ({low}) must be below high ({high})")
    if log and low <= 0:
        raise ValueError(f"a log-scaled range needs low > 0 (got {low})")
    if not low <= default <= high:
        raise ValueError(f"default {default} is outside [{low}, {high}]")


class SearchSpace(BaseModel):
    """An ordered mapping name -> parameter. Order matters: agents walk parameters in it."""

    model_config = ConfigDict(frozen=True)
    params: dict[str, Param]

    @classmethod
    def from_dict(cls, raw: Any, source: str = "space") -> SearchSpace:
        if not isinstance(raw, dict) or not raw:
            raise SpaceError(
                f"{source}: SPACE must be a non-empty dict of name -> parameter spec",
                'write e.g. SPACE = {"lr": {"type": "float", "low": 1e-4, "high": 1.0, "log": True, '
                '"default": 0.01}}',
            )
        params: dict[str, Param] = {}
        for name, spec in raw.items():
            if not isinstance(name, str) or not name.isidentifier():
                raise SpaceError(f"{source}: parameter name {name!r} is not an identifier",
                                 "use names like learning_rate or MATRIX_LR")
            try:
                params[name] = _PARAM_ADAPTER.validate_python(spec)
            except ValidationError as exc:
                reasons = "; ".join(_short(err) for err in exc.errors())
                raise SpaceError(
                    f"{source}: parameter {name!r} is invalid: {reasons}",
                    "each parameter needs type float|int (low, high, default, optional log) "
                    "or type choice (choices, default), with the default inside the range",
                ) from None
        return cls(params=params)

    def to_dict(self) -> dict[str, dict[str, Any]]:
        return {name: p.model_dump() for name, p in self.params.items()}

    @property
    def names(self) -> list[str]:
        return list(self.params)

    def defaults(self) -> dict[str, Scalar]:
        return {name: p.default for name, p in self.params.items()}

    def validate_params(self, params: Any, *, partial: bool = False) -> dict[str, Scalar]:
        """Return a clean copy of params, or raise SpaceError naming every problem.

        With partial=True, missing names are allowed (the caller fills them from a base point).
        """
        if not isinstance(params, dict):
            raise SpaceError(f"parameters must be a dict, got {type(params).__name__}")
        problems: list[str] = []
        clean: dict[str, Scalar] = {}
        for name in params:
            if name not in self.params:
                problems.append(f"unknown parameter {name!r} (known: {', '.join(self.params)})")
        for name, spec in self.params.items():
            if name not in params:
                if not partial:
                    problems.append(f"missing parameter {name!r}")
                continue
            value = params[name]
            try:
                clean[name] = _coerce(spec, value)
            except ValueError as exc:
                problems.append(f"{name}: {exc}")
        if problems:
            raise SpaceError("invalid parameters: " + "; ".join(problems))
        return clean

    def complete(self, params: dict[str, Any], base: dict[str, Scalar]) -> dict[str, Scalar]:
        """Validate a partial dict and fill the missing names from base."""
        clean = self.validate_params(params, partial=True)
        return {name: clean.get(name, base[name]) for name in self.params}

    def sample(self, rng: random.Random) -> dict[str, Scalar]:
        return {name: self.from_unit(name, rng.random()) for name in self.params}

    def to_unit(self, name: str, value: Scalar) -> float:
        """Map a value into [0, 1] (log-scaled where the parameter is; choices by index)."""
        spec = self.params[name]
        if isinstance(spec, ChoiceParam):
            return unit_space.choice_to_unit(spec.choices, value)
        return unit_space.number_to_unit(spec.low, spec.high, spec.log, float(value))

    def from_unit(self, name: str, u: float) -> Scalar:
        spec = self.params[name]
        if isinstance(spec, ChoiceParam):
            return unit_space.choice_from_unit(spec.choices, u)
        return unit_space.number_from_unit(spec.low, spec.high, spec.log, isinstance(spec, IntParam), u)


def _coerce(spec: FloatParam | IntParam | ChoiceParam, value: Any) -> Scalar:
    if isinstance(spec, ChoiceParam):
        for choice in spec.choices:  # return the space's own object; True must not match 1
            if choice == value and isinstance(choice, bool) == isinstance(value, bool):
                return choice
        raise ValueError(f"{value!r} is not one of {list(spec.choices)}")
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ValueError(f"{value!r} is not a number")
    if isinstance(value, float) and not math.isfinite(value):
        raise ValueError(f"{value!r} is not finite")
    if isinstance(spec, IntParam):
        if isinstance(value, float):
            if not value.is_integer():
                raise ValueError(f"{value!r} is not an integer")
            value = int(value)
    else:
        value = float(value)
    if not spec.low <= value <= spec.high:
        raise ValueError(f"{value!r} is outside [{spec.low}, {spec.high}]")
    number: int | float = value
    return number


def _short(err: Any) -> str:
    loc = ".".join(str(x) for x in err.get("loc", ()) if x not in ("float", "int", "choice"))
    msg = str(err.get("msg", "invalid")).removeprefix("Value error, ")
    return f"{loc}: {msg}" if loc else msg
