# Sourced by the other scripts: make sure .venv exists and holds this project, installed once per
# change of pyproject.toml (a stamp file records what was installed).
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="${EVOLVE_VENV:-$ROOT/.venv}"
PY="${PYTHON:-python3}"

if [[ ! -x "$VENV/bin/python" ]]; then
  echo "[setup] creating $VENV" >&2
  "$PY" -m venv "$VENV"
fi
EXTRAS="dev,baselines,bbob,ui,ray"  # test tools, optuna for the TPE baseline, ioh + cma for the BBOB domain and protocol, the dashboard (evolve ui), Ray for --executor ray
stamp="$VENV/.bilevel-evolve-installed"
want="$( (cat "$ROOT/pyproject.toml"; echo "$EXTRAS") | sha256sum | cut -d' ' -f1)"
if [[ ! -f "$stamp" || "$(cat "$stamp")" != "$want" ]]; then
  echo "[setup] installing bilevel-evolve and its dependencies into $VENV (first time: a few minutes)" >&2
  "$VENV/bin/python" -m pip install --quiet --upgrade pip >&2
  "$VENV/bin/python" -m pip install --quiet -e "$ROOT[$EXTRAS]" >&2
  echo "$want" > "$stamp"
fi
export PATH="$VENV/bin:$PATH"
