#!/usr/bin/env bash
# Run KappaCat's whole test suite: lint, type checks and pytest (unit, integration, end to end).
# CI runs this script (through .ci/run).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh test

echo "== ruff"
.venv/bin/ruff check .
.venv/bin/ruff format --check .
echo "== mypy"
.venv/bin/mypy
echo "== pytest"
exec .venv/bin/pytest "$@"
