#!/usr/bin/env bash
# Rewrite sandbox/gate/census.py from the sandbox image: which public names of each module a mechanism
# may reach are modules or metaclasses, in the numpy, torch and Python the image has. Run it after the
# image's packages change (tests/sandbox/test_gate_census.py says when).
set -euo pipefail
cd "$(dirname "$0")/.."
python=${PYTHON:-.venv/bin/python}
image=${SANDBOX_IMAGE:-bilevel-evolve-sandbox:latest}
census=$(mktemp)
trap 'rm -f "$census"' EXIT
# shellcheck disable=SC2046  # one argument per module path
docker run --rm -i --network none --user 10001:10001 "$image" /opt/venv/bin/python -I - \
  $("$python" -m bilevel_evolve.sandbox.gate.module_census --paths) < sandbox/gate/module_census.py > "$census"
"$python" -m bilevel_evolve.sandbox.gate.module_census --render "$census" > sandbox/gate/census.py
echo "wrote sandbox/gate/census.py"
