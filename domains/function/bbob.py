"""BBOB (the COCO noiseless suite, f1..f24) through the `ioh` package: `function:bbob:FID:DIM[:INSTANCE]`.

The search space is BBOB's box [-5, 5]^DIM as float parameters x1..xDIM, each with default 0 (so the
baseline trial evaluates the origin). A trial reports the raw objective value f(x), exactly as ioh
computes it, minimized; the known optimum f(x*) (ioh's `problem.optimum.y`) is the objective's optimum
(`describe()["optimum"]`), so regret is value - optimum (benchmarks/bbob_protocol.py computes it from ioh).
Reporting raw values keeps a trace comparable with any other BBOB tool.

ioh is an optional dependency: the `bbob` extra (pip install -e '.[bbob]').
"""

from __future__ import annotations

import hashlib
import importlib
import re
import threading
from importlib.metadata import version
from pathlib import Path
from typing import Any

from bilevel_evolve.domains.function.loader import ObjectiveFile
from bilevel_evolve.ground.errors import UsageError
from bilevel_evolve.ground.space import SearchSpace

PREFIX = "bbob"
FORM = "function:bbob:FID:DIM[:INSTANCE]"
FUNCTION_IDS = range(1, 25)
LOWER, UPPER = -5.0, 5.0
MIN_DIM = 2  # ioh's own lower limit for BBOB
MAX_DIM = 100  # guards against a typo building a huge rotation matrix; BBOB's standard sizes end at 40
MAX_INSTANCE = 100_000  # BBOB seeds its transformations with FID + 10000 * INSTANCE in a 32-bit int
DEFAULT_INSTANCE = 1
EXTRA_FIX = "install the bbob extra: pip install -e '.[bbob]' (or pip install 'bilevel-evolve[bbob]')"
_USAGE = (f"write {FORM}: FID 1..24 (the COCO noiseless suite), DIM {MIN_DIM}..{MAX_DIM} "
          f"(BBOB's standard sizes are 2, 3, 5, 10, 20, 40), INSTANCE 1..{MAX_INSTANCE} (default "
          f"{DEFAULT_INSTANCE}); e.g. function:bbob:21:5")


def is_bbob_spec(arg: str) -> bool:
    """Whether the part after `function:` names a BBOB problem (well-formed or not)."""
    return arg.partition(":")[0] == PREFIX


def load_bbob(arg: str) -> ObjectiveFile:
    """The BBOB problem `bbob:FID:DIM[:INSTANCE]` names, as an objective like any built-in."""
    fid, dim, instance = parse_bbob(arg)
    ioh = import_ioh()
    problem = ioh.get_problem(fid, instance, dim, ioh.ProblemClass.BBOB)
    names = [f"x{i}" for i in range(1, dim + 1)]
    space = SearchSpace.from_dict(
        {n: {"type": "float", "low": LOWER, "high": UPPER, "default": 0.0} for n in names}, source=f"bbob f{fid}")
    lock = threading.Lock()  # the ioh problem counts evaluations in its own state; domains may be called from threads

    def objective(params: dict[str, Any]) -> float:
        point = [float(params[n]) for n in names]
        with lock:
            return float(problem(point))

    name = f"{PREFIX}:{fid}:{dim}:{instance}"
    ioh_version = version("ioh")
    return ObjectiveFile(
        path=Path(__file__).resolve(), name=name, space=space, direction="minimize", objective=objective,
        optimum=float(problem.optimum.y),
        doc=(f"BBOB f{fid} ({problem.meta_data.name}), instance {instance}, {dim}-D, via ioh {ioh_version}: "
             f"raw f(x) on [{LOWER:g}, {UPPER:g}]^{dim}, minimized; regret = value - optimum."),
        sha256=hashlib.sha256(f"ioh {ioh_version} {name}".encode()).hexdigest(), builtin=True,
    )


def parse_bbob(arg: str) -> tuple[int, int, int]:
    """(FID, DIM, INSTANCE) from `bbob:FID:DIM[:INSTANCE]`; UsageError naming the bad part."""
    parts = arg.split(":")[1:]
    if len(parts) not in (2, 3):
        raise UsageError(f"--domain function:{arg}: expected {FORM}", _USAGE)
    fid = _integer(parts[0], "function id", arg, prefix="f")
    if fid not in FUNCTION_IDS:
        raise UsageError(f"--domain function:{arg}: BBOB has no function f{fid}", _USAGE)
    dim = _integer(parts[1], "dimension", arg)
    if not MIN_DIM <= dim <= MAX_DIM:
        raise UsageError(f"--domain function:{arg}: dimension {dim} is outside {MIN_DIM}..{MAX_DIM}", _USAGE)
    instance = _integer(parts[2], "instance", arg) if len(parts) == 3 else DEFAULT_INSTANCE
    if not 1 <= instance <= MAX_INSTANCE:
        raise UsageError(f"--domain function:{arg}: instance {instance} is outside 1..{MAX_INSTANCE}", _USAGE)
    return fid, dim, instance


def _integer(text: str, what: str, arg: str, prefix: str = "") -> int:
    match = re.fullmatch(rf"(?:{re.escape(prefix)})?([+-]?[0-9]+)", text)
    if match is None:
        raise UsageError(f"--domain function:{arg}: the {what} {text!r} is not a whole number", _USAGE)
    return int(match.group(1))


def import_ioh() -> Any:
    try:
        return importlib.import_module("ioh")
    except ImportError:
        raise UsageError("BBOB domains need the ioh package, which is not installed", EXTRA_FIX) from None
