#!/usr/bin/env bash
# Main entry. With no arguments: set up .venv and run the offline default (no API key needed).
# With arguments: the same as `evolve ARGS...` inside the project's environment.
source "$(dirname "${BASH_SOURCE[0]}")/_env.sh"
cd "$ROOT"
if [[ $# -gt 0 ]]; then
  exec evolve "$@"
fi
exec evolve run --domain function:hartmann6 --iterations 30 --levels 1 --agent offline --seed 0
