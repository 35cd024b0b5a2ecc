#!/usr/bin/env bash
# Shared by demo.sh and test.sh: the project's virtual environment, installed and up to date,
# and the front-end files the pages load. Usage: scripts/setup.sh [EXTRA]   (e.g. "test")
# A second run installs nothing unless pyproject.toml or a web/package-lock.json changed.
set -euo pipefail
cd "$(dirname "$0")/.."

PYTHON=${PYTHON:-python3}
extra=${1:-}
if [ ! -x .venv/bin/python ]; then
  echo "==> creating .venv with $("$PYTHON" --version 2>&1)"
  "$PYTHON" -m venv .venv
fi
# Reinstall only when pyproject.toml changed since the last install of this extra.
stamp=".venv/.kappacat-installed${extra:+-$extra}"
if [ ! -f "$stamp" ] || [ pyproject.toml -nt "$stamp" ]; then
  echo "==> installing KappaCat${extra:+ with [$extra]} and its Python packages into .venv"
  echo "    (about 2 minutes the first time, with GDAL, onnxruntime and the STAC stack;"
  echo "    seconds when only pyproject.toml changed)"
  started=$SECONDS
  .venv/bin/python -m pip install -q --upgrade pip
  .venv/bin/python -m pip install -q -e ".${extra:+[$extra]}"
  touch "$stamp"
  echo "    installed in $((SECONDS - started)) s"
fi
bash scripts/build-web.sh
