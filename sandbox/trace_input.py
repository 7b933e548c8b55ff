"""Recorded traces for the smoke test: a JSON file or a run's trace.jsonl, validated on the host."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from bilevel_evolve.ground.errors import SpaceError, UsageError
from bilevel_evolve.ground.records import TrialRecord
from bilevel_evolve.ground.space import SearchSpace

MAX_TRACE_BYTES = 16 * 1024 * 1024
MAX_TRIALS = 1000


def load_trace(path: Path, space: dict[str, Any] | None = None) -> tuple[dict[str, Any], str, list[dict[str, Any]]]:
    """(space, direction, trials) from a trace file.

    Formats: a JSON object {"space": ..., "direction": ..., "trials": [TrialRecord, ...]}, or JSON
    lines where trial events ({"kind": "trial", ...}) or bare trial records are the trials and a
    {"kind": "run_started", "direction": ...} line gives the direction. A space given by the caller
    wins over one in the file; one of the two must exist.
    """
    try:
        if path.stat().st_size > MAX_TRACE_BYTES:
            raise UsageError(f"trace {path} is larger than {MAX_TRACE_BYTES // 2**20} MiB", "pass a shorter trace")
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise UsageError(f"cannot read trace {path}: {exc}", "pass a JSON or JSONL trace file") from None
    try:
        raw_space, direction, raw_trials = _parse(text)
    except (ValueError, TypeError, AttributeError, RecursionError) as exc:  # RecursionError: nested too deep
        raise UsageError(
            f"trace {path} is not a JSON trace ({str(exc)[:200]})",
            'write {"space": {...}, "direction": "minimize", "trials": [...]} or pass a trace.jsonl',
        ) from None
    chosen = space if space is not None else raw_space
    if chosen is None:
        raise UsageError(f"trace {path} holds no search space", "pass the space too (space=... / --space)")
    checked = SearchSpace.from_dict(chosen, source=str(path))
    trials = []
    for n, raw in enumerate(raw_trials[:MAX_TRIALS]):
        try:
            record = TrialRecord.model_validate({**raw, "accepted": raw.get("accepted", False)})
            checked.validate_params(record.params)
        except (ValidationError, SpaceError) as exc:
            raise UsageError(f"trace {path}: trial {n} is invalid: {str(exc).splitlines()[0][:200]}",
                             "the trace must come from a run on the same search space") from None
        trials.append(record.model_dump(mode="json"))
    if not trials:
        raise UsageError(f"trace {path} holds no trials", "record a run first, or leave the trace out")
    return checked.to_dict(), direction, trials


def _parse(text: str) -> tuple[dict[str, Any] | None, str, list[dict[str, Any]]]:
    stripped = text.lstrip()
    if stripped.startswith("{") and "\n{" not in stripped.strip():
        doc = json.loads(stripped)
        if "trials" in doc:
            return doc.get("space"), doc.get("direction", "minimize"), list(doc["trials"])
    direction = "minimize"
    space = None
    trials: list[dict[str, Any]] = []
    accepted: dict[int, bool] = {}
    for line in text.splitlines():
        if not line.strip():
            continue
        event = json.loads(line)
        kind = event.get("kind")
        if kind == "run_started":
            direction = event.get("direction", direction)
            space = event.get("space", space)
        elif kind == "decision":
            accepted[int(event["iteration"])] = bool(event["accepted"])
        elif kind == "trial" or (kind is None and {"params", "status"} <= set(event)):
            trials.append({k: event[k] for k in ("iteration", "params", "status", "value", "accepted",
                                                   "source", "duration_s") if k in event})
    for trial in trials:
        trial.setdefault("accepted", accepted.get(int(trial.get("iteration", -1)), False))
    return space, direction, trials
