"""Benchmark objectives and user objective files, evaluated in-process."""

from bilevel_evolve.domains.function.domain import FunctionDomain
from bilevel_evolve.domains.function.loader import (
    ObjectiveFile,
    builtin_names,
    builtin_summary,
    load_builtin,
    load_objective_file,
)

__all__ = ["FunctionDomain", "ObjectiveFile", "builtin_names", "builtin_summary", "load_builtin", "load_objective_file"]
