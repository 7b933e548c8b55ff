"""The read-only `ctx` a mechanism's hooks receive, built from `SearchContext.to_json()` output.

Standard library only: this module runs inside the sandbox image (mounted at /opt/harness), in the
long-lived mechanism host, and in the engine's in-process runtime, so all three hand mechanisms the
same objects and the same random streams.
"""

from __future__ import annotations

import copy
import hashlib
import math
import random
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from bilevel_evolve.ground.contract import unit_space
from bilevel_evolve.ground.contract.interface import DEFAULT_LLM_MAX_TOKENS
from bilevel_evolve.ground.contract.llm import request_problems

# How a worker passes a ctx.llm request on (sandbox/guest/worker.py): the request -> the model's answer.
Ask = Callable[[dict[str, Any]], str]


class FrozenDict(dict):  # type: ignore[type-arg]
    """A dict a mechanism can read and JSON-encode but not change (copy it with dict(x) to edit)."""

    __slots__ = ()

    def _readonly(self, *_: Any, **__: Any) -> Any:
        raise TypeError("ctx is read-only: copy it first, e.g. params = dict(ctx.incumbent.params)")

    __setitem__ = __delitem__ = __ior__ = _readonly
    clear = pop = popitem = setdefault = update = _readonly

    def __hash__(self) -> int:  # type: ignore[override]
        return hash(tuple(sorted(self.items(), key=lambda kv: str(kv[0]))))

    # Copies are ordinary, editable dicts (what a mechanism wants when it copies ctx data).
    def __copy__(self) -> dict[Any, Any]:
        return dict(self)

    def __deepcopy__(self, memo: dict[int, Any]) -> dict[Any, Any]:
        return {k: copy.deepcopy(v, memo) for k, v in self.items()}

    def __reduce__(self) -> tuple[Any, ...]:
        return (dict, (dict(self),))


def freeze(value: Any) -> Any:
    """Deep read-only copy of JSON data: dicts become FrozenDict, lists become tuples."""
    if isinstance(value, Mapping):
        return FrozenDict((k, freeze(v)) for k, v in value.items())
    if isinstance(value, list | tuple):
        return tuple(freeze(v) for v in value)
    return value


def derive_seed(seed: int, iteration: int, hook: str = "") -> int:
    """A 64-bit seed from (run seed, iteration, hook); identical in every process and on every host."""
    digest = hashlib.sha256(f"{seed}:{iteration}:{hook}".encode()).digest()
    return int.from_bytes(digest[:8], "big")


@dataclass(frozen=True, slots=True)
class Trial:
    iteration: int
    params: FrozenDict
    status: str
    value: float | None
    accepted: bool
    source: str = "agent"
    duration_s: float = 0.0

    @classmethod
    def from_json(cls, raw: Mapping[str, Any]) -> Trial:
        value = raw.get("value")
        return cls(
            iteration=int(raw["iteration"]),
            params=freeze(dict(raw["params"])),
            status=str(raw["status"]),
            value=None if value is None else float(value),
            accepted=bool(raw.get("accepted", False)),
            source=str(raw.get("source", "agent")),
            duration_s=float(raw.get("duration_s", 0.0)),
        )

    def to_json(self) -> dict[str, Any]:
        return {
            "iteration": self.iteration, "params": dict(self.params), "status": self.status,
            "value": self.value, "accepted": self.accepted, "source": self.source,
            "duration_s": self.duration_s,
        }


@dataclass(frozen=True, slots=True)
class Config:
    frozen: tuple[str, ...] = ()
    focus: tuple[str, ...] = ()
    strategy: str = "exploit"
    step_scale: float = 1.0
    guidance: str = ""
    mechanisms_enabled: bool = True

    @classmethod
    def from_json(cls, raw: Mapping[str, Any] | None) -> Config:
        raw = raw or {}
        return cls(
            frozen=tuple(raw.get("frozen", ())), focus=tuple(raw.get("focus", ())),
            strategy=str(raw.get("strategy", "exploit")), step_scale=float(raw.get("step_scale", 1.0)),
            guidance=str(raw.get("guidance", "")),
            mechanisms_enabled=bool(raw.get("mechanisms_enabled", True)),
        )


@dataclass(frozen=True, slots=True)
class Hints:
    focus: tuple[str, ...] = ()
    avoid: tuple[str, ...] = ()
    notes: tuple[str, ...] = ()

    @classmethod
    def from_json(cls, raw: Mapping[str, Any] | None) -> Hints:
        raw = raw or {}
        return cls(tuple(raw.get("focus", ())), tuple(raw.get("avoid", ())), tuple(raw.get("notes", ())))


@dataclass(frozen=True, slots=True)
class Pending:
    """A proposal whose trial is running now (a run with several workers): not in history yet."""

    iteration: int
    params: FrozenDict
    source: str = "agent"

    @classmethod
    def from_json(cls, raw: Mapping[str, Any]) -> Pending:
        return cls(int(raw["iteration"]), freeze(dict(raw["params"])), str(raw.get("source", "agent")))


@dataclass(frozen=True, slots=True)
class Context:
    """What every hook gets. `rng` is a fresh random.Random seeded from (seed, iteration, hook)."""

    space: FrozenDict
    direction: str
    iteration: int
    history: tuple[Trial, ...]
    incumbent: Trial | None
    config: Config
    hints: Hints
    rng: random.Random
    pending: tuple[Pending, ...] = ()  # trials in flight, in proposal order (empty with one worker)
    ask: Ask | None = field(default=None, repr=False, compare=False)  # the worker's way to the engine

    def llm(self, prompt: str, *, system: str | None = None, max_tokens: int = DEFAULT_LLM_MAX_TOKENS) -> str:
        """The run's model's answer to `prompt` (text). The engine makes the call, counts its cost and
        records it; offline and in the smoke test a deterministic stand-in answers. At most MAX_LLM_CALLS
        calls per hook call: one more fails the mechanism."""
        problems = request_problems(prompt, system, max_tokens)
        if problems:
            raise ValueError(f"ctx.llm: {'; '.join(problems)}")
        if self.ask is None:
            raise RuntimeError("ctx.llm: no model answers here (this ctx was not built by a worker)")
        return self.ask({"prompt": prompt, "system": system, "max_tokens": max_tokens})

    def better(self, a: float, b: float) -> bool:
        """True when value a is strictly better than value b in this direction."""
        return a < b if self.direction == "minimize" else a > b

    def sample(self) -> dict[str, Any]:
        """A random full parameter dict inside the space, drawn from ctx.rng."""
        return {name: unit_space.from_unit(spec, self.rng.random()) for name, spec in self.space.items()}

    def to_unit(self, name: str, value: Any) -> float:
        """Where `value` of parameter `name` sits in [0, 1], exactly as the engine maps it (log-scaled
        where the parameter is; option i of n choices at i / (n - 1))."""
        return unit_space.to_unit(self.space[name], value)

    def from_unit(self, name: str, u: float) -> Any:
        """The value of parameter `name` at unit position `u` (clipped; ints rounded; choices as n equal bins)."""
        return unit_space.from_unit(self.space[name], u)


def build_context(ctx_json: Mapping[str, Any], *, seed: int, hook: str = "", ask: Ask | None = None) -> Context:
    """Turn `SearchContext.to_json()` output into the read-only Context a hook receives (`ask`: where
    its ctx.llm requests go)."""
    iteration = int(ctx_json["iteration"])
    incumbent = ctx_json.get("incumbent")
    return Context(
        space=freeze(dict(ctx_json["space"])),
        direction=str(ctx_json.get("direction", "minimize")),
        iteration=iteration,
        history=tuple(Trial.from_json(t) for t in ctx_json.get("history", ())),
        incumbent=Trial.from_json(incumbent) if incumbent else None,
        config=Config.from_json(ctx_json.get("config")),
        hints=Hints.from_json(ctx_json.get("hints")),
        rng=random.Random(derive_seed(seed, iteration, hook)),
        pending=tuple(Pending.from_json(p) for p in ctx_json.get("pending", ())),
        ask=ask,
    )


# --- fitting values to the space, in plain dicts (mirrors bilevel_evolve.ground.space without pydantic) ---

def param_problem(spec: Mapping[str, Any], value: Any) -> str | None:
    """Why value does not fit spec, or None (same rules as bilevel_evolve.ground.space.SearchSpace.validate_params)."""
    if spec["type"] == "choice":
        for choice in spec["choices"]:
            if choice == value and isinstance(choice, bool) == isinstance(value, bool):
                return None
        return f"{value!r} is not one of {list(spec['choices'])}"
    if isinstance(value, bool) or not isinstance(value, int | float):
        return f"{value!r} ({type(value).__name__}) is not a number"
    if isinstance(value, float) and not math.isfinite(value):
        return f"{value!r} is not finite"
    if spec["type"] == "int" and isinstance(value, float) and not value.is_integer():
        return f"{value!r} is not an integer"
    if not spec["low"] <= value <= spec["high"]:
        return f"{value!r} is outside [{spec['low']}, {spec['high']}]"
    return None


def params_problems(space: Mapping[str, Mapping[str, Any]], params: Mapping[str, Any]) -> list[str]:
    """Every reason a full parameter dict does not fit the space (empty when it fits)."""
    problems = [f"unknown parameter {name!r}" for name in params if name not in space]
    for name, spec in space.items():
        if name not in params:
            problems.append(f"missing parameter {name!r}")
        elif (why := param_problem(spec, params[name])) is not None:
            problems.append(f"{name}: {why}")
    return problems


def names_problems(space: Mapping[str, Any], names: Iterable[Any], key: str) -> list[str]:
    problems = []
    for name in names:
        if not isinstance(name, str):
            problems.append(f"{key} holds {name!r} ({type(name).__name__}), expected parameter names")
        elif name not in space:
            problems.append(f"{key} names unknown parameter {name!r}")
    return problems
