#!/usr/bin/env bash
# The one test command (README and CI call exactly this). Extra arguments go to pytest.
source "$(dirname "${BASH_SOURCE[0]}")/_env.sh"
cd "$ROOT"
ruff check .
exec python -m pytest "$@"
