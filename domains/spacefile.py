"""Read a JSON search-space file (the --space override) into a SearchSpace."""

from __future__ import annotations

import json
from pathlib import Path

from engine.errors import UsageError
from engine.space import SearchSpace

_EXAMPLE = '{"MATRIX_LR": {"type": "float", "low": 0.001, "high": 0.1, "log": true, "default": 0.01}}'


def load_space_file(path: Path) -> SearchSpace:
    try:
        raw = json.loads(Path(path).read_text(encoding="utf-8"))
    except OSError as exc:
        raise UsageError(f"cannot read the space file {path}: {exc.strerror or exc}",
                         "pass an existing JSON file") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise UsageError(f"the space file {path} is not valid JSON: {exc}",
                         f"write a JSON object of name -> parameter spec, e.g. {_EXAMPLE}") from None
    return SearchSpace.from_dict(raw, source=str(path))


def restrict_names(space: SearchSpace, allowed: list[str], source: str, what: str) -> None:
    """Raise UsageError when the space names a parameter outside `allowed`."""
    unknown = [n for n in space.names if n not in allowed]
    if unknown:
        raise UsageError(
            f"{source}: the space names {', '.join(unknown)}, which {what} does not have",
            f"use only these names: {', '.join(allowed)}",
        )
