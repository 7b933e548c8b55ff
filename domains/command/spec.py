"""The JSON spec of a command domain, validated into a frozen model."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from bilevel_evolve.domains.spacefile import read_json_file
from bilevel_evolve.ground.errors import UsageError
from bilevel_evolve.ground.records import Direction

EXAMPLE_SPEC = (
    '{"command": ["python", "bench.py"], '
    '"space": {"threads": {"type": "int", "low": 1, "high": 16, "default": 4}}, '
    '"direction": "minimize", "metric_regex": "score: ([0-9.eE+-]+)", "timeout_s": 60, '
    '"param_style": "args"}'
)


class CommandSpec(BaseModel):
    """command: argv (a first word python/python3 means the engine's interpreter);
    metric_regex: its first group, in the last match over stdout+stderr, is the metric;
    param_style: "args" appends --name value per parameter, "env" sets EVOLVE_PARAM_<NAME>;
    cwd: working directory, relative to the spec file's folder (default: that folder);
    env: extra environment variables for every trial;
    description: what the program does and what its metric means, for a language model's task brief.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    command: tuple[str, ...] = Field(min_length=1)
    space: dict[str, Any]
    direction: Direction = "minimize"
    metric_regex: str
    timeout_s: float = Field(default=60.0, gt=0)
    param_style: Literal["args", "env"] = "args"
    cwd: str | None = None
    env: dict[str, str] = Field(default_factory=dict)
    description: str = Field(default="", max_length=20_000)

    @field_validator("command")
    @classmethod
    def _non_empty_words(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        if not value[0].strip():
            raise ValueError("the program name (first word) is empty")
        return value

    @field_validator("metric_regex")
    @classmethod
    def _one_group(cls, value: str) -> str:
        try:
            pattern = re.compile(value)
        except re.error as exc:
            raise ValueError(f"does not compile: {exc}") from None
        if pattern.groups < 1:
            raise ValueError("needs a capture group around the number, e.g. score: ([0-9.eE+-]+)")
        return value

    @property
    def pattern(self) -> re.Pattern[str]:
        return re.compile(self.metric_regex, re.MULTILINE)


def load_spec(path: Path) -> CommandSpec:
    raw = read_json_file(path, "command spec", "pass command:PATH/TO/spec.json naming an existing file",
                         f"write a JSON object such as {EXAMPLE_SPEC}")
    try:
        return CommandSpec.model_validate(raw)
    except ValidationError as exc:
        problems = "; ".join(_describe(err) for err in exc.errors())
        raise UsageError(f"the command spec {path} is invalid: {problems}",
                         f"fields: command, space, metric_regex (required), direction, timeout_s, "
                         f"param_style, cwd, env, description; e.g. {EXAMPLE_SPEC}") from None


def _describe(err: Any) -> str:
    loc = ".".join(str(x) for x in err.get("loc", ()))
    msg = str(err.get("msg", "invalid")).removeprefix("Value error, ")
    return f"{loc}: {msg}" if loc else msg
