"""The function domain: an objective called in-process, one cheap call per trial."""

from __future__ import annotations

import random
import time
from pathlib import Path
from typing import Any

from bilevel_evolve.domains.brief import BriefSection, TaskBrief
from bilevel_evolve.domains.function.loader import ObjectiveFile, as_finite_number
from bilevel_evolve.domains.options import DomainOptions
from bilevel_evolve.domains.spacefile import load_space_file, restrict_names
from bilevel_evolve.ground.errors import SpaceError
from bilevel_evolve.ground.records import TrialResult
from bilevel_evolve.ground.space import Scalar


class FunctionDomain:
    """Calls objective(params) directly: no subprocess and no file writes per trial.

    Objectives are trusted code (the user's own file or a built-in) and are not time-limited.
    A space override may cover a subset of the objective's parameters; the others stay fixed
    at the objective's own defaults.
    """

    def __init__(self, objective: ObjectiveFile, options: DomainOptions | None = None) -> None:
        self._objective = objective
        self._options = options or DomainOptions()
        self.name = f"function:{objective.name}"
        self.direction = objective.direction
        self.space = objective.space
        self._fixed: dict[str, Scalar] = {}
        if self._options.space_file is not None:
            override = load_space_file(self._options.space_file)
            restrict_names(override, objective.space.names, str(self._options.space_file), str(objective.path))
            self._fixed = {n: v for n, v in objective.space.defaults().items() if n not in override.params}
            self.space = override

    def run_trial(self, params: dict[str, Scalar], trial_dir: Path, seed: int) -> TrialResult:
        start = time.perf_counter()
        try:
            clean = self.space.validate_params(params)
        except SpaceError as exc:
            return TrialResult(status="invalid", message=exc.problem)
        try:
            raw = self._objective.objective({**self._fixed, **clean})
        except (Exception, SystemExit) as exc:
            return TrialResult(status="crashed", duration_s=time.perf_counter() - start,
                               message=f"objective raised {type(exc).__name__}: {exc}")
        value = as_finite_number(raw)
        duration = time.perf_counter() - start
        if value is None:
            return TrialResult(status="failed", duration_s=duration,
                               message=f"objective returned {_short_repr(raw)}, not a finite number")
        if self._options.noise_sd == 0:
            return TrialResult(status="ok", value=value, duration_s=duration)
        noisy = value + random.Random(seed).gauss(0.0, self._options.noise_sd)
        return TrialResult(status="ok", value=noisy, duration_s=duration, metrics={"noise_free": value})

    def describe(self) -> dict[str, Any]:
        obj = self._objective
        return {
            "kind": "function",
            "name": self.name,
            "source": str(obj.path),
            "builtin": obj.builtin,
            "sha256": obj.sha256,
            "direction": self.direction,
            "optimum": obj.optimum,
            "space": self.space.to_dict(),
            "fixed": self._fixed,
            "noise_sd": self._options.noise_sd,
            "doc": obj.doc,
        }

    def brief(self) -> TaskBrief:
        """A user's objective file: its module docstring, never its source. A built-in benchmark (or BBOB):
        nothing of its own, since its docstring names the optimum and its name alone would give it away."""
        obj = self._objective
        noise = (f" Each value carries Gaussian noise (sd {self._options.noise_sd:g}), so one good value may be "
                 "luck." if self._options.noise_sd else "")
        held = ", ".join(f"{k}={v!r}" for k, v in self._fixed.items())
        fixed = f" Parameters outside the search space stay fixed: {held}." if held else ""
        if obj.builtin:
            return TaskBrief(task=f"{self.direction.capitalize()} a black-box benchmark function of the parameters "
                             "below; its name and formula are withheld, so the search is a fair test. Each trial "
                             f"is one evaluation.{noise}{fixed}", metric="the function's value")
        task = (f"{self.direction.capitalize()} the value that objective(params) in {obj.path.name} returns. Each "
                f"trial is one call of it.{noise}{fixed}")
        if not obj.doc:
            return TaskBrief(task=task + " (The file has no docstring describing it.)", metric="the objective's value")
        return TaskBrief(task=task, metric="the objective's value",
                         sections=(BriefSection(title=f"What {obj.path.name} says about itself", body=obj.doc),))


def _short_repr(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."
