"""What each mechanism hook may return, checked against the space. Standard library only.

Shared by the in-container harness (smoke test), the mechanism host and the in-process runtime:
each `check_*` returns a list of problems (empty when the value is fine); messages name the hook,
what it returned and what was expected, so they can go straight into a rejection reason.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from bilevel_evolve.ground.contract.ctx import names_problems, params_problems
from bilevel_evolve.ground.contract.interface import MAX_DRAFT_BYTES, MAX_NOTE_CHARS

GUIDE_KEYS = ("focus", "avoid", "note")


def describe(value: Any) -> str:
    text = repr(value)
    if len(text) > 120:
        text = text[:117] + "..."
    return f"{text} ({type(value).__name__})"


def _wrong(hook: str, value: Any, expected: str) -> list[str]:
    return [f"hook {hook} returned {describe(value)}, expected {expected}"]


def check_guide(value: Any, space: Mapping[str, Any]) -> list[str]:
    if value is None:
        return []
    if not isinstance(value, Mapping):
        return _wrong("guide", value, "dict or None")
    problems = [f"hook guide returned unknown key {k!r} (allowed: focus, avoid, note)"
                for k in value if k not in GUIDE_KEYS]
    for key in ("focus", "avoid"):
        names = value.get(key, ())
        if not isinstance(names, list | tuple):
            problems.append(f"hook guide returned {key}={describe(names)}, expected a list of parameter names")
        else:
            problems += [f"hook guide: {p}" for p in names_problems(space, names, key)]
    note = value.get("note", "")
    if not isinstance(note, str):
        problems.append(f"hook guide returned note={describe(note)}, expected str")
    elif len(note) > MAX_NOTE_CHARS:
        problems.append(f"hook guide returned a note of {len(note)} characters (at most {MAX_NOTE_CHARS})")
    return problems


def _check_params(hook: str, value: Any, space: Mapping[str, Any]) -> list[str]:
    if not isinstance(value, Mapping):
        return _wrong(hook, value, "a parameter dict")
    return [f"hook {hook} returned invalid parameters: {p}" for p in params_problems(space, value)]


def check_propose(value: Any, space: Mapping[str, Any]) -> list[str]:
    if value is None:
        return []
    if not isinstance(value, Mapping):
        return _wrong("propose", value, "dict or None")
    return _check_params("propose", value, space)


def check_review(value: Any, space: Mapping[str, Any]) -> list[str]:
    if value is None:
        return []
    if not isinstance(value, Mapping) or len(value) != 1 or next(iter(value)) not in ("reject", "replace"):
        return _wrong("review", value, 'None, {"reject": "why"} or {"replace": {...}}')
    if "reject" in value:
        return [] if isinstance(value["reject"], str) else _wrong("review", value, '{"reject": str}')
    return _check_params("review", value["replace"], space)


def check_observe(value: Any, space: Mapping[str, Any]) -> list[str]:
    return [] if value is None else _wrong("observe", value, "None")


def check_accept(value: Any, space: Mapping[str, Any]) -> list[str]:
    return [] if value is None or isinstance(value, bool) else _wrong("accept", value, "bool or None")


def check_stage(value: Any, space: Mapping[str, Any]) -> list[str]:
    if not isinstance(value, str):
        return _wrong("stage", value, "the revised draft as a str")
    size = len(value.encode("utf-8", "surrogatepass"))
    if size > MAX_DRAFT_BYTES:
        return [f"hook stage returned a draft of {size:,} bytes (at most {MAX_DRAFT_BYTES:,})"]
    return [] if value.strip() else ["hook stage returned an empty draft"]


CHECKS = {
    "guide": check_guide, "stage": check_stage, "propose": check_propose, "review": check_review,
    "observe": check_observe, "accept": check_accept,
}


def check_return(hook: str, value: Any, space: Mapping[str, Any]) -> list[str]:
    """Problems with what `hook` returned (state_dict and load_state_dict are checked elsewhere)."""
    return CHECKS[hook](value, space)
