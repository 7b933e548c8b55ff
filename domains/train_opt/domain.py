"""The train_opt domain: tune the constants of a train.py, one subprocess run per trial."""

from __future__ import annotations

import hashlib
import os
import sys
from pathlib import Path
from typing import Any

from bilevel_evolve.domains.brief import TaskBrief
from bilevel_evolve.domains.options import DomainOptions
from bilevel_evolve.domains.process import run_captured, trial_env
from bilevel_evolve.domains.spacefile import load_space_file
from bilevel_evolve.domains.train_opt import constants as C
from bilevel_evolve.domains.train_opt.brief import ScriptFacts, train_opt_brief
from bilevel_evolve.domains.train_opt.metrics import METRIC, result_from_outcome
from bilevel_evolve.domains.train_opt.spaces import default_space_dict, table_for
from bilevel_evolve.ground.errors import SpaceError, UsageError
from bilevel_evolve.ground.records import Direction, TrialResult
from bilevel_evolve.ground.space import Scalar, SearchSpace

SHIPPED_TRAIN_PY = Path(__file__).resolve().parent / "train.py"
_BUDGET_CONSTANT = "TIME_BUDGET"
_UNKNOWN_BUDGET_TIMEOUT_S = 900.0


class TrainOptDomain:
    """Each trial writes an edited copy of train.py into trial_dir and runs it there.

    The user's file is read once, at load, and never written. Its directory goes on PYTHONPATH
    so that sibling imports (Karpathy's `from prepare import ...`) still resolve.
    """

    direction: Direction = "minimize"

    def __init__(self, train_py: Path, options: DomainOptions | None = None) -> None:
        self._options = options or DomainOptions()
        self._path = Path(train_py).resolve()
        self._source = _read_source(self._path)
        where = str(self._path)
        self._constants = C.read_constants(self._source, where)
        self.name = "train_opt" if self._path == SHIPPED_TRAIN_PY else f"train_opt:{self._path.name}"
        self.space = self._build_space(where)
        self._bindings = {n: C.resolve(n, self._constants) for n in self.space.names}
        self._budget_s = self._time_budget(where)
        if self._options.trial_timeout_s is not None:
            self._timeout_s = self._options.trial_timeout_s
        elif self._budget_s is not None:
            self._timeout_s = 3 * self._budget_s + 120
        else:
            self._timeout_s = _UNKNOWN_BUDGET_TIMEOUT_S
        self._python = self._options.python or sys.executable

    def _build_space(self, where: str) -> SearchSpace:
        if self._options.space_file is not None:
            space = load_space_file(self._options.space_file)
            unbound = [n for n in space.names if C.resolve(n, self._constants) is None]
            if unbound:
                raise UsageError(
                    f"{self._options.space_file}: {', '.join(unbound)} is not an upper-case constant "
                    f"with a literal value in {where}",
                    "name constants the file assigns once at module level; tunable here: "
                    + ", ".join(self._tunable_names()),
                )
            return space
        raw = default_space_dict(self._constants)
        if not raw:
            expected = ", ".join(table_for(self._constants))
            raise UsageError(
                f"{where} defines none of the expected hyperparameter constants ({expected})",
                "define them as upper-case module-level constants (e.g. MATRIX_LR = 0.04), or pass "
                "a space file naming the constants your train.py has",
            )
        return SearchSpace.from_dict(raw, source=f"default space for {where}")

    def _tunable_names(self) -> list[str]:
        names = [n for n in self._constants if C.resolve(n, self._constants) is not None]
        names += [a for a in C.ALIASES if C.resolve(a, self._constants) is not None]
        return names or ["(none)"]

    def _time_budget(self, where: str) -> float | None:
        const = self._constants.get(_BUDGET_CONSTANT)
        value = const.value if const is not None else None
        if self._options.time_budget_s is not None:
            if not C.is_number(value):
                raise UsageError(
                    f"{where} has no numeric {_BUDGET_CONSTANT} constant, so a time budget cannot be set",
                    f"define {_BUDGET_CONSTANT} = <seconds> in the file, or drop the time-budget option",
                )
            return self._options.time_budget_s
        return float(value) if C.is_number(value) else None

    def edited_source(self, params: dict[str, Scalar]) -> str:
        """The trial's copy of train.py: validated values written as literals. Raises SpaceError."""
        clean = self.space.validate_params(params)
        values: dict[C.Binding, Any] = {}
        for name, value in clean.items():
            binding = self._bindings[name]
            assert binding is not None
            current = C.current_value(binding, self._constants)
            if current != value or type(current) is not type(value):  # keep the diff minimal
                values[binding] = value
        if self._options.time_budget_s is not None:
            budget_value = self._constants[_BUDGET_CONSTANT].value
            budget = self._options.time_budget_s
            values[C.Binding(_BUDGET_CONSTANT)] = int(budget) if isinstance(budget_value, int) and \
                float(budget).is_integer() else float(budget)
        return C.rewrite(self._source, str(self._path), values)

    def run_trial(self, params: dict[str, Scalar], trial_dir: Path, seed: int) -> TrialResult:
        try:
            source = self.edited_source(params)
        except SpaceError as exc:
            return TrialResult(status="invalid", message=exc.problem)
        trial_dir = Path(trial_dir)
        trial_dir.mkdir(parents=True, exist_ok=True)
        script = trial_dir / "train.py"
        script.write_text(source, encoding="utf-8")
        try:
            outcome = run_captured(
                [self._python, script.name], cwd=trial_dir, env=self._env(trial_dir, seed),
                timeout_s=self._timeout_s, log_path=trial_dir / "train.log",
                max_log_bytes=self._options.max_log_bytes,
            )
        except OSError as exc:
            raise UsageError(f"cannot start {self._python}: {exc.strerror or exc}",
                             "pass a working Python interpreter (the python option)") from None
        return result_from_outcome(outcome, self._timeout_s)

    def _env(self, trial_dir: Path, seed: int) -> dict[str, str]:
        env = trial_env(trial_dir, seed)
        path = [str(self._path.parent), env.get("PYTHONPATH", "")]
        env["PYTHONPATH"] = os.pathsep.join(p for p in path if p)
        env["SEED"] = str(seed)  # Karpathy's name, besides EVOLVE_SEED
        if self._options.num_threads is not None:
            env["EVOLVE_NUM_THREADS"] = env["OMP_NUM_THREADS"] = str(self._options.num_threads)
        return env

    def describe(self) -> dict[str, Any]:
        return {
            "kind": "train_opt",
            "name": self.name,
            "source": str(self._path),
            "sha256": hashlib.sha256(self._source.encode("utf-8")).hexdigest(),
            "direction": self.direction,
            "metric": METRIC,
            "space": self.space.to_dict(),
            "time_budget_s": self._budget_s,
            "trial_timeout_s": self._timeout_s,
            "python": self._python,
        }

    def brief(self) -> TaskBrief:
        tuned = tuple(dict.fromkeys(b.constant for b in self._bindings.values() if b is not None))
        elements = tuple((name, b.constant, b.index) for name, b in self._bindings.items()
                         if b is not None and b.index is not None)
        return train_opt_brief(ScriptFacts(
            path=self._path, source=self._source, constants=self._constants, tuned=tuned, elements=elements,
            budget_s=self._budget_s, timeout_s=self._timeout_s, python=self._python,
            num_threads=self._options.num_threads))


def _read_source(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise UsageError(f"train.py not found: {path}",
                         "pass train_opt:PATH/TO/train.py, or plain train_opt for the shipped GPT") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise UsageError(f"cannot read {path}: {exc}", "pass a readable UTF-8 Python file") from None
