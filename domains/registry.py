"""Turn a --domain spec string into a loaded Domain."""

from __future__ import annotations

from pathlib import Path

from bilevel_evolve.domains.base import Domain
from bilevel_evolve.domains.command import CommandDomain
from bilevel_evolve.domains.function import (
    FunctionDomain,
    builtin_names,
    builtin_summary,
    load_builtin,
    load_objective_file,
)
from bilevel_evolve.domains.function.bbob import FORM as BBOB_FORM
from bilevel_evolve.domains.function.bbob import is_bbob_spec, load_bbob
from bilevel_evolve.domains.options import DomainOptions
from bilevel_evolve.domains.text.domain import EXAMPLE_ALIAS, TextDomain, article_path
from bilevel_evolve.domains.train_opt import SHIPPED_TRAIN_PY, TrainOptDomain
from bilevel_evolve.ground.errors import UsageError

_FORMS = (
    ("function:NAME", "a built-in benchmark objective (see below)"),
    ("function:PATH.py", "your objective file: SPACE, DIRECTION, def objective(params) -> float"),
    (BBOB_FORM, "a BBOB function (f1..f24, box [-5, 5]^DIM) through ioh: the bbob extra"),
    ("train_opt", "the shipped small byte-level GPT (CPU, seconds per trial), metric val_bpb"),
    ("train_opt:PATH/train.py", "your train.py with upper-case constants (e.g. Karpathy's autoresearch)"),
    ("command:PATH.json", "any program: command, space, metric_regex, ... in a JSON spec"),
    ("text:ARTICLE.md", "an article revised against a rubric (--rubric RUBRIC.md; default ARTICLE.rubric.md)"),
    (f"text:{EXAMPLE_ALIAS}", "the shipped example article and rubric (an explainer on caching)"),
)


def list_domains() -> list[tuple[str, str]]:
    """(spec form, one-line summary) pairs for help text, built-in objectives included."""
    builtins = [(f"function:{name}", builtin_summary(name)) for name in builtin_names()]
    return [*_FORMS, *builtins]


def load_domain(spec: str, options: DomainOptions | None = None) -> Domain:
    """Load the domain a spec names; UsageError (exit 2) for anything malformed."""
    options = options or DomainOptions()
    kind, _, arg = spec.strip().partition(":")
    if kind == "function" and arg:
        if arg in builtin_names():
            return FunctionDomain(load_builtin(arg), options)
        if is_bbob_spec(arg):
            return FunctionDomain(load_bbob(arg), options)
        if arg.endswith(".py") or "/" in arg or Path(arg).exists():
            return FunctionDomain(load_objective_file(Path(arg)), options)
        raise UsageError(f"--domain {spec}: {arg!r} is neither a built-in objective nor a .py file",
                         f"built-ins: {', '.join(builtin_names())}; {BBOB_FORM}; or pass a path ending in .py")
    if kind == "train_opt":
        return TrainOptDomain(Path(arg) if arg else SHIPPED_TRAIN_PY, options)
    if kind == "command" and arg:
        return CommandDomain(Path(arg), options)
    if kind == "text" and arg:
        return TextDomain(article_path(arg), options)
    raise UsageError(f"unknown domain {spec!r}",
                     "use one of: " + ", ".join(form for form, _ in _FORMS))
