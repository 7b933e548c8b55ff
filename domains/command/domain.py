"""The command domain: any program, parameters in, a regex-parsed metric out."""

from __future__ import annotations

import hashlib
import math
import os
import shutil
import sys
from pathlib import Path
from typing import Any

from bilevel_evolve.domains.brief import BriefSection, TaskBrief
from bilevel_evolve.domains.command.metric import search_metric
from bilevel_evolve.domains.command.spec import CommandSpec, load_spec
from bilevel_evolve.domains.failure import last_line, reason_from_output
from bilevel_evolve.domains.options import DomainOptions
from bilevel_evolve.domains.process import ProcessOutcome, run_captured, trial_env
from bilevel_evolve.domains.spacefile import load_space_file
from bilevel_evolve.ground.errors import SpaceError, UsageError
from bilevel_evolve.ground.records import TrialResult
from bilevel_evolve.ground.space import Scalar, SearchSpace

ENV_PREFIX = "EVOLVE_PARAM_"
_PYTHON_WORDS = ("python", "python3")
_TAIL_CHARS = 1500


def render_value(value: Scalar) -> str:
    """A parameter as program text: floats at full precision, booleans as true/false."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return repr(value)
    return str(value)


class CommandDomain:
    """Runs the spec's command once per trial in its own process group, output logged to
    trial_dir/command.log. The seed is passed as EVOLVE_SEED and the trial folder as
    EVOLVE_TRIAL_DIR; parameters as --name value arguments or EVOLVE_PARAM_<NAME> variables.
    """

    def __init__(self, spec_path: Path, options: DomainOptions | None = None) -> None:
        self._options = options or DomainOptions()
        self._spec_path = Path(spec_path).resolve()
        self._spec: CommandSpec = load_spec(self._spec_path)
        self._sha256 = hashlib.sha256(self._spec_path.read_bytes()).hexdigest()
        self.name = f"command:{self._spec_path.name}"
        self.direction = self._spec.direction
        if self._options.space_file is not None:
            self.space = load_space_file(self._options.space_file)
        else:
            self.space = SearchSpace.from_dict(self._spec.space, source=f"{self._spec_path} (space)")
        self._timeout_s = self._options.trial_timeout_s or self._spec.timeout_s
        self._cwd = (self._spec_path.parent / (self._spec.cwd or ".")).resolve()
        if not self._cwd.is_dir():
            raise UsageError(f"{self._spec_path}: cwd {self._cwd} is not a directory",
                             "set cwd to an existing folder (relative paths start at the spec's folder)")
        self._program = self._resolve_program()

    def _resolve_program(self) -> str:
        first = self._spec.command[0]
        if first in _PYTHON_WORDS:
            return self._options.python or sys.executable
        if os.sep in first:
            candidate = self._cwd / first
            if candidate.is_file():
                return str(candidate)
        elif shutil.which(first):
            return first
        raise UsageError(f"{self._spec_path}: program {first!r} not found (looked on PATH and in {self._cwd})",
                         "name an installed program or a file path relative to cwd")

    def argv(self, params: dict[str, Scalar]) -> list[str]:
        argv = [self._program, *self._spec.command[1:]]
        if self._spec.param_style == "args":
            for name, value in params.items():
                argv += [f"--{name}", render_value(value)]
        return argv

    def run_trial(self, params: dict[str, Scalar], trial_dir: Path, seed: int) -> TrialResult:
        try:
            clean = self.space.validate_params(params)
        except SpaceError as exc:
            return TrialResult(status="invalid", message=exc.problem)
        trial_dir = Path(trial_dir)
        trial_dir.mkdir(parents=True, exist_ok=True)
        env = trial_env(trial_dir, seed, self._spec.env)
        if self._spec.param_style == "env":
            env.update({ENV_PREFIX + name.upper(): render_value(v) for name, v in clean.items()})
        try:
            outcome = run_captured(self.argv(clean), cwd=self._cwd, env=env, timeout_s=self._timeout_s,
                                   log_path=trial_dir / "command.log", max_log_bytes=self._options.max_log_bytes)
        except OSError as exc:
            raise UsageError(f"cannot start {self._program}: {exc.strerror or exc}",
                             f"fix the command in {self._spec_path}") from None
        return self._result(outcome)

    def _result(self, outcome: ProcessOutcome) -> TrialResult:
        tail = outcome.tail(_TAIL_CHARS)
        duration = outcome.duration_s
        last = last_line(outcome.output)
        if outcome.timed_out:
            return TrialResult(status="timeout", duration_s=duration,
                               message=f"no exit within {self._timeout_s:g} s; output tail:\n{tail}",
                               reason=f"killed at the time limit ({self._timeout_s:g} s)")
        if outcome.returncode != 0:
            exited = f"exited with status {outcome.returncode}"
            return TrialResult(status="crashed", duration_s=duration,
                               message=f"{exited}; output tail:\n{tail}",
                               reason=reason_from_output(outcome.output) or f"{exited}; last output line: {last}")
        # what the program left of the trial's time, and at least a second: the regex must not hang the run
        search = search_metric(self._spec.metric_regex, self._spec.pattern.flags, outcome.output,
                               max(1.0, self._timeout_s - duration))
        if search.timed_out:
            return TrialResult(status="timeout", duration_s=duration,
                               message=f"metric_regex {self._spec.metric_regex!r} did not finish matching within "
                                       f"the trial's time limit ({self._timeout_s:g} s); output tail:\n{tail}",
                               reason=f"metric_regex {self._spec.metric_regex!r} did not finish matching within "
                                      f"the time limit ({self._timeout_s:g} s)")
        if search.failure:
            return TrialResult(status="failed", duration_s=duration, message=search.failure, reason=search.failure)
        if not search.matched:
            return TrialResult(status="failed", duration_s=duration,
                               message=f"metric_regex {self._spec.metric_regex!r} found nothing; "
                                       f"output tail:\n{tail}",
                               reason=f"no match for metric_regex {self._spec.metric_regex!r}; "
                                      f"last output line: {last}")
        text = search.group  # None when the group took no part in the match
        try:
            value = float(text if text is not None else "not a number")
        except ValueError:
            return TrialResult(status="failed", duration_s=duration,
                               message=f"the metric text {text!r} is not a number")
        if not math.isfinite(value):
            return TrialResult(status="failed", duration_s=duration, message=f"the metric is {value}")
        return TrialResult(status="ok", value=value, duration_s=duration)

    def describe(self) -> dict[str, Any]:
        return {
            "kind": "command",
            "name": self.name,
            "source": str(self._spec_path),
            "sha256": self._sha256,
            "command": list(self._spec.command),
            "cwd": str(self._cwd),
            "direction": self.direction,
            "metric_regex": self._spec.metric_regex,
            "param_style": self._spec.param_style,
            "space": self.space.to_dict(),
            "trial_timeout_s": self._timeout_s,
        }

    def brief(self) -> TaskBrief:
        spec = self._spec
        passing = ("as --name value arguments" if spec.param_style == "args"
                   else f"as environment variables {ENV_PREFIX}<NAME>")
        how = (f"Each trial runs `{' '.join(spec.command)}` once (in {self._cwd}), the parameters passed {passing}. "
               f"The metric is the number in the first group of the last match of the regex {spec.metric_regex!r} "
               f"in its output; a trial that exits with an error, prints no match, or runs past "
               f"{self._timeout_s:g} s counts as failed, with its one-line reason.")
        task = f"{self.direction.capitalize()} the metric that {self._spec_path.name} describes."
        if not spec.description.strip():
            return TaskBrief(task=f"{task} {how} (The spec has no description field saying what the program is.)")
        return TaskBrief(task=task, sections=(BriefSection(title="What the program is (the spec's description)",
                                                           body=spec.description.strip()),
                                              BriefSection(title="How a trial runs", body=how)))
