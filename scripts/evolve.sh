#!/usr/bin/env bash
# Main entry. With no arguments: set up .venv, make sure the sandbox (Docker engine + image) is
# there, and run every level offline on a built-in task (no API key needed), then print what the
# outer loop proposed, accepted and rolled back.
# With arguments: the same as `evolve ARGS...` inside the project's environment.
source "$(dirname "${BASH_SOURCE[0]}")/_env.sh"
cd "$ROOT"
if [[ $# -gt 0 ]]; then
  exec evolve "$@"
fi
if ! docker info >/dev/null 2>&1; then
  echo "[setup] no Docker engine answers: installing/starting one (Level 2 vets mechanisms in containers)" >&2
  bash scripts/install-docker.sh
fi
if ! python -m bilevel_evolve.sandbox.image check >/dev/null 2>&1; then
  echo "[setup] building the sandbox image (missing or older than this checkout; first time: a few minutes)" >&2
  bash scripts/build-image.sh
fi
exec evolve run --domain function:hartmann6 --iterations 30 --levels 1,1.5,2 --agent offline --seed 0
