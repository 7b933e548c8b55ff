"""Compact text views of a search for prompts: the space, the trials, per-parameter usage and effect.

Shared by the Level 1 proposer and the Level 1.5 / Level 2 research prompts. A long history is not cut
at random: it is summarized as its best trials, its most recent ones, the reasons trials failed, and
what changing each parameter did (format_trials, format_failures, format_usage).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from bilevel_evolve.ground.records import Direction, Hints, SearchConfig, TrialRecord, gain
from bilevel_evolve.ground.space import ChoiceParam, Scalar, SearchSpace
from bilevel_evolve.ground.untrusted import for_prompt


@dataclass(frozen=True)
class ParamUsage:
    tried: int = 0  # trials that changed this parameter from the point they started from
    kept: int = 0  # of those, the trials that were accepted
    failed: int = 0  # of those, the trials that ran but did not succeed
    change_sum: float = 0.0  # over those that succeeded from a measured start: value - the start's value
    change_count: int = 0

    @property
    def mean_change(self) -> float | None:
        return self.change_sum / self.change_count if self.change_count else None


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


@dataclass(frozen=True)
class _Step:
    trial: TrialRecord
    changed: list[str]  # names it changed relative to the incumbent it started from
    start_value: float | None  # that incumbent's value (None before one was measured)


def _walk(history: Sequence[TrialRecord], start: dict[str, Scalar]) -> list[_Step]:
    base = dict(start)
    base_value: float | None = None
    out = []
    for trial in history:
        out.append(_Step(trial, [n for n, v in trial.params.items() if base.get(n) != v], base_value))
        if trial.accepted:
            base, base_value = dict(trial.params), trial.value
    return out


def parameter_usage(history: Sequence[TrialRecord], space: SearchSpace) -> dict[str, ParamUsage]:
    usage = {name: ParamUsage() for name in space.names}
    for step in _walk(history, space.defaults()):
        trial = step.trial
        change = None
        if trial.status == "ok" and trial.value is not None and step.start_value is not None:
            change = trial.value - step.start_value
        for name in step.changed:
            if name in usage:
                old = usage[name]
                usage[name] = ParamUsage(
                    old.tried + 1, old.kept + int(trial.accepted),
                    old.failed + int(trial.status in ("failed", "crashed", "timeout")),
                    old.change_sum + (change or 0.0), old.change_count + int(change is not None))
    return usage


def format_usage(history: Sequence[TrialRecord], space: SearchSpace) -> str:
    usage = parameter_usage(history, space)
    rows = [f"| {n} | {u.tried} | {u.kept} | {u.failed} | "
            f"{'-' if u.mean_change is None else f'{u.mean_change:+.4g}'} |" for n, u in usage.items()]
    return "\n".join(["| parameter | tried | kept | failed | mean change of the value |", "|---|---|---|---|---|",
                      *rows])


def format_history(history: Sequence[TrialRecord], space: SearchSpace, limit: int = 20) -> str:
    """The last `limit` trials: value, status, kept, and what each changed from its starting point."""
    if not history:
        return "(no trials yet)"
    walked = _walk(history, space.defaults())[-limit:]
    rows = _trial_table(walked)
    skipped = len(history) - len(walked)
    if skipped:
        rows.insert(0, f"({skipped} earlier trials not shown)")
    return "\n".join(rows)


def _trial_table(steps: Sequence[_Step]) -> list[str]:
    rows = ["| iter | value | status | kept | changes |", "|---|---|---|---|---|"]
    for step in steps:
        trial = step.trial
        changes = ", ".join(f"{n}={fmt(trial.params[n])}" for n in step.changed) or "(none)"
        rows.append(
            f"| {trial.iteration} | {fmt(trial.value)} | {trial.status} | "
            f"{'yes' if trial.accepted else 'no'} | {changes} |"
        )
    return rows


def format_trials(history: Sequence[TrialRecord], space: SearchSpace, direction: Direction, *, recent: int,
                  best: int) -> str:
    """Every trial when there are at most `recent`; otherwise a summary: the `best` best trials (with how
    they differ from the defaults), then the `recent` most recent ones."""
    if len(history) <= recent:
        return format_history(history, space, limit=max(recent, 1))
    counts: dict[str, int] = {}
    for trial in history:
        counts[trial.status] = counts.get(trial.status, 0) + 1
    kept = sum(t.accepted for t in history)
    lines = [f"{len(history)} trials in all ({', '.join(f'{n} {s}' for s, n in sorted(counts.items()))}; "
             f"{kept} kept). Summarized: the best trials, then the most recent."]
    ok = [(t.value, t) for t in history if t.status == "ok" and t.value is not None]
    top = [t for _, t in sorted(ok, key=lambda vt: -gain(vt[0], 0.0, direction))[:best]]
    if top:
        defaults = space.defaults()
        lines += ["", f"Best {len(top)}:", "| iter | value | differs from the defaults in |", "|---|---|---|"]
        for t in top:
            differs = ", ".join(f"{n}={fmt(v)}" for n, v in t.params.items() if defaults.get(n) != v) or "(none)"
            lines.append(f"| {t.iteration} | {fmt(t.value)} | {differs} |")
    if recent > 0:
        lines += ["", f"Most recent {recent} (\"changes\" are relative to the incumbent each trial started from):",
                  *_trial_table(_walk(history, space.defaults())[-recent:])]
    return "\n".join(lines)


def format_failures(history: Sequence[TrialRecord], limit: int) -> str:
    """Why trials failed, one line per distinct reason (most recent first, with a count), fenced as trial
    output: the reasons come from what the trials printed."""
    groups: dict[tuple[str, str], list[TrialRecord]] = {}
    for trial in history:
        if trial.status != "ok" and trial.reason:
            groups.setdefault((trial.status, trial.reason), []).append(trial)
    if not groups or limit <= 0:
        return "(no failed trial)" if not groups else f"({sum(map(len, groups.values()))} failed trials)"
    ordered = sorted(groups.items(), key=lambda kv: -kv[1][-1].iteration)
    lines = []
    for (status, reason), trials in ordered[:limit]:
        where = ", ".join(str(t.iteration) for t in trials[-3:])
        count = f"{len(trials)} trials, last at iterations {where}" if len(trials) > 1 else f"iteration {where}"
        lines.append(f"- {status} ({count}): {reason}")
    if len(ordered) > limit:
        lines.append(f"- ... and {len(ordered) - limit} other reasons")
    return for_prompt("failure reasons (from the trials' output)", "\n".join(lines), limit=8000)


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
    if hints.notes:  # mechanisms' own words: untrusted
        lines.append(for_prompt("mechanism notes", "\n".join(f"- note: {note}" for note in hints.notes)))
    return "\n".join(lines)
