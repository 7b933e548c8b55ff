"""Prompt templates: `engine/prompts/NAME.md`, with `$name` placeholders (string.Template)."""

from __future__ import annotations

import functools
import string
from importlib import resources
from typing import Any

from bilevel_evolve.ground.errors import EvolveError


@functools.cache
def load_prompt(name: str) -> str:
    resource = resources.files("bilevel_evolve.engine.prompts") / f"{name}.md"
    try:
        return resource.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise EvolveError(
            f"prompt template {name!r} is missing (engine/prompts/{name}.md)",
            "reinstall the package: the prompt files ship as package data",
        ) from None


def render_prompt(name: str, **values: Any) -> str:
    """Fill a template; every placeholder must be given (a missing one is a bug, said plainly)."""
    try:
        return string.Template(load_prompt(name)).substitute({k: str(v) for k, v in values.items()})
    except KeyError as exc:
        raise EvolveError(f"prompt template {name!r} needs a value for ${exc.args[0]}") from None


def prompt_messages(system: str, user: str, **values: Any) -> list[dict[str, str]]:
    """A system + user message pair from two templates sharing the same values."""
    return [
        {"role": "system", "content": render_prompt(system, **values).strip()},
        {"role": "user", "content": render_prompt(user, **values).strip()},
    ]
