"""Every parameter laid out on [0, 1]: the one implementation of the mapping. Standard library only.

The engine's `SearchSpace` (ground/space.py), the mechanisms' `ctx.to_unit` / `ctx.from_unit` and the
in-container trace driver all map through these functions, so a mechanism and the engine always
agree where a value sits.

Numbers map linearly, or linearly in their logarithm where the parameter is log-scaled; `from_unit`
rounds ints and clips to the range. Option i of n choices sits at i / (n - 1) (a single option at
0.5); `from_unit` reads [0, 1] as n equal bins, so a uniform u picks every option equally often.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any, TypeVar

Choice = TypeVar("Choice")


def clip_unit(u: float) -> float:
    return min(1.0, max(0.0, float(u)))


def number_to_unit(low: float, high: float, log: bool, value: float) -> float:
    lo, hi, v = float(low), float(high), float(value)
    if log:
        lo, hi, v = math.log(lo), math.log(hi), math.log(v)
    return min(1.0, max(0.0, (v - lo) / (hi - lo)))


def number_from_unit(low: float, high: float, log: bool, integer: bool, u: float) -> int | float:
    u = clip_unit(u)
    lo, hi = float(low), float(high)
    if log:
        value = math.exp(math.log(lo) + u * (math.log(hi) - math.log(lo)))
    else:
        value = lo + u * (hi - lo)
    if integer:
        return int(min(high, max(low, round(value))))
    return float(min(hi, max(lo, value)))


def choice_to_unit(choices: Sequence[Any], value: Any) -> float:
    """Raises ValueError when value is not one of the choices."""
    n = len(choices)
    return 0.5 if n == 1 else list(choices).index(value) / (n - 1)


def choice_from_unit(choices: Sequence[Choice], u: float) -> Choice:
    return choices[min(len(choices) - 1, int(clip_unit(u) * len(choices)))]


def to_unit(spec: Mapping[str, Any], value: Any) -> float:
    """Where `value` sits in [0, 1] for a parameter spec in its JSON form ({"type": ..., ...})."""
    if spec["type"] == "choice":
        return choice_to_unit(spec["choices"], value)
    return number_to_unit(spec["low"], spec["high"], bool(spec.get("log")), value)


def from_unit(spec: Mapping[str, Any], u: float) -> Any:
    """The value of a parameter spec in its JSON form at unit position `u` (clipped to [0, 1])."""
    if spec["type"] == "choice":
        return choice_from_unit(spec["choices"], u)
    return number_from_unit(spec["low"], spec["high"], bool(spec.get("log")), spec["type"] == "int", u)
