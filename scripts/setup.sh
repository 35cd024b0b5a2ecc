#!/usr/bin/env bash
# Shared by demo.sh and test.sh: the project's virtual environment, installed and up to date,
# and the web map's MapLibre build. Usage: scripts/setup.sh [EXTRA]   (e.g. "test")
set -euo pipefail
cd "$(dirname "$0")/.."

PYTHON=${PYTHON:-python3}
extra=${1:-}
if [ ! -x .venv/bin/python ]; then
  echo "==> creating .venv"
  "$PYTHON" -m venv .venv
fi
# Reinstall only when pyproject.toml changed since the last install of this extra.
stamp=".venv/.kappacat-installed${extra:+-$extra}"
if [ ! -f "$stamp" ] || [ pyproject.toml -nt "$stamp" ]; then
  echo "==> installing KappaCat${extra:+ with [$extra]} into .venv"
  .venv/bin/python -m pip install -q --upgrade pip
  .venv/bin/python -m pip install -q -e ".${extra:+[$extra]}"
  touch "$stamp"
fi
if [ -x tiler/web/build.sh ]; then
  tiler/web/build.sh
fi
