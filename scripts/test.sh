#!/usr/bin/env bash
# The one test command (README and CI call exactly this): lint, type check, then the tests.
# Extra arguments go to pytest.
source "$(dirname "${BASH_SOURCE[0]}")/_env.sh"
cd "$ROOT"
ruff check .
bash scripts/typecheck.sh --view-only  # mypy finds modules by folder: a view under bilevel_evolve/
mypy  # the type checker ([tool.mypy] in pyproject.toml; strict flags on ground and sandbox)
exec python -m pytest "$@"
