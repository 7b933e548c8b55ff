#!/usr/bin/env bash
# The type checker (mypy, configured in pyproject.toml). mypy finds modules by folder, and the
# folders are mapped onto the bilevel_evolve namespace only at install time, so it checks a view of
# the tree (.typecheck/bilevel_evolve/<folder> -> ../../<folder>), made afresh each time.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
view="$ROOT/.typecheck/bilevel_evolve"
rm -rf "$ROOT/.typecheck"
mkdir -p "$view"
for folder in ground sandbox domains mechanism_archive engine; do
  ln -s "../../$folder" "$view/$folder"
done
[[ "${1:-}" == "--view-only" ]] && exit 0  # scripts/test.sh makes the view, then runs mypy itself
cd "$ROOT"
source "$ROOT/scripts/_env.sh"  # the project's venv, with mypy in it
exec mypy "$@"
