"""Compact text views of a search for prompts: the space, the recent history, per-parameter usage.

Shared by the Level 1 proposer and the Level 1.5 / Level 2 research prompts.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from bilevel_evolve.ground.records import Hints, SearchConfig, TrialRecord
from bilevel_evolve.ground.space import ChoiceParam, Scalar, SearchSpace


@dataclass(frozen=True)
class ParamUsage:
    tried: int = 0  # trials that changed this parameter from the point they started from
    kept: int = 0  # of those, the trials that were accepted


def fmt(value: Scalar | None) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.6g}"
    return str(value)


def format_space(space: SearchSpace, frozen: Iterable[str] = ()) -> str:
    frozen_set = set(frozen)
    lines = []
    for name, spec in space.params.items():
        if isinstance(spec, ChoiceParam):
            domain = "one of " + ", ".join(fmt(c) for c in spec.choices)
        else:
            scale = ", log scale" if spec.log else ""
            domain = f"{spec.type} in [{fmt(spec.low)}, {fmt(spec.high)}]{scale}"
        mark = "  (FROZEN: keep its current value)" if name in frozen_set else ""
        lines.append(f"- {name}: {domain}; default {fmt(spec.default)}{mark}")
    return "\n".join(lines)


def format_params(params: dict[str, Scalar]) -> str:
    return ", ".join(f"{k}={fmt(v)}" for k, v in params.items())


def _walk(history: Sequence[TrialRecord], start: dict[str, Scalar]) -> list[tuple[TrialRecord, list[str]]]:
    """Each trial with the names it changed relative to the incumbent it started from."""
    base = dict(start)
    out = []
    for trial in history:
        changed = [n for n, v in trial.params.items() if base.get(n) != v]
        out.append((trial, changed))
        if trial.accepted:
            base = dict(trial.params)
    return out


def parameter_usage(history: Sequence[TrialRecord], space: SearchSpace) -> dict[str, ParamUsage]:
    usage = {name: ParamUsage() for name in space.names}
    for trial, changed in _walk(history, space.defaults()):
        for name in changed:
            if name in usage:
                old = usage[name]
                usage[name] = ParamUsage(old.tried + 1, old.kept + int(trial.accepted))
    return usage


def format_usage(history: Sequence[TrialRecord], space: SearchSpace) -> str:
    usage = parameter_usage(history, space)
    rows = [f"| {n} | {u.tried} | {u.kept} |" for n, u in usage.items()]
    return "\n".join(["| parameter | tried | kept |", "|---|---|---|", *rows])


def format_history(history: Sequence[TrialRecord], space: SearchSpace, limit: int = 20) -> str:
    """The last `limit` trials: value, status, kept, and what each changed from its starting point."""
    if not history:
        return "(no trials yet)"
    walked = _walk(history, space.defaults())[-limit:]
    rows = ["| iter | value | status | kept | changes |", "|---|---|---|---|---|"]
    for trial, changed in walked:
        changes = ", ".join(f"{n}={fmt(trial.params[n])}" for n in changed) or "(none)"
        rows.append(
            f"| {trial.iteration} | {fmt(trial.value)} | {trial.status} | "
            f"{'yes' if trial.accepted else 'no'} | {changes} |"
        )
    skipped = len(history) - len(walked)
    if skipped:
        rows.insert(0, f"({skipped} earlier trials not shown)")
    return "\n".join(rows)


def format_config(config: SearchConfig) -> str:
    lines = [
        f"- strategy: {config.strategy}",
        f"- step scale: {config.step_scale:g}",
        f"- frozen (must not change): {', '.join(config.frozen) or 'none'}",
        f"- focus: {', '.join(config.focus) or 'none'}",
    ]
    if config.guidance:
        lines.append(f"- guidance: {config.guidance}")
    return "\n".join(lines)


def format_hints(hints: Hints) -> str:
    if not (hints.focus or hints.avoid or hints.notes):
        return "(none)"
    lines = []
    if hints.focus:
        lines.append(f"- focus on: {', '.join(hints.focus)}")
    if hints.avoid:
        lines.append(f"- avoid: {', '.join(hints.avoid)}")
    lines.extend(f"- note: {note}" for note in hints.notes)
    return "\n".join(lines)
