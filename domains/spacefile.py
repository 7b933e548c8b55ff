"""Read a JSON search-space file (the --space override) into a SearchSpace."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from bilevel_evolve.ground.errors import UsageError
from bilevel_evolve.ground.space import SearchSpace

_EXAMPLE = '{"MATRIX_LR": {"type": "float", "low": 0.001, "high": 0.1, "log": true, "default": 0.01}}'


def read_json_file(path: Path, what: str, missing_hint: str, example_hint: str) -> Any:
    """The parsed JSON of a user's file; UsageError naming `what` when it is unreadable or not JSON."""
    try:
        return json.loads(Path(path).read_text(encoding="utf-8"))
    except OSError as exc:
        raise UsageError(f"cannot read the {what} {path}: {exc.strerror or exc}", missing_hint) from None
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise UsageError(f"the {what} {path} is not valid JSON: {exc}", example_hint) from None


def load_space_file(path: Path) -> SearchSpace:
    raw = read_json_file(path, "space file", "pass an existing JSON file",
                         f"write a JSON object of name -> parameter spec, e.g. {_EXAMPLE}")
    return SearchSpace.from_dict(raw, source=str(path))


def restrict_names(space: SearchSpace, allowed: list[str], source: str, what: str) -> None:
    """Raise UsageError when the space names a parameter outside `allowed`."""
    unknown = [n for n in space.names if n not in allowed]
    if unknown:
        raise UsageError(
            f"{source}: the space names {', '.join(unknown)}, which {what} does not have",
            f"use only these names: {', '.join(allowed)}",
        )
