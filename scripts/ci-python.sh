#!/usr/bin/env bash
# CI stage `python`: pip install . into a fresh virtual environment (the
# README's command), then the pytest suite (python/tests).
# Usage: bash scripts/ci-python.sh [VENV_DIR]   (default build-python/venv)
# The venv sees python3's own site-packages, so a torch that
# `scripts/install-deps.sh --tests` put there serves the torch tests.
# JAX (CPU jaxlib from PyPI: 88 MB of wheels) goes into the venv for the JAX
# tests; ATTNRT_NO_JAX=1 leaves it out and they skip, saying why.
set -euo pipefail
cd "$(dirname "$0")/.."
venv=${1:-build-python/venv}
python3 -m venv --clear --system-site-packages "$venv"
extra=(jax)
[ "${ATTNRT_NO_JAX:-0}" != 1 ] || extra=()
"$venv/bin/python" -m pip install -q --disable-pip-version-check ".[test]" "${extra[@]}"
# From the repository root pytest imports the installed attnrt, not python/attnrt.
"$venv/bin/python" -m pytest -q -p no:cacheprovider python/tests
