#!/usr/bin/env bash
# Run KappaCat's whole test suite: lint, type checks and pytest (unit, integration, end to end).
# CI runs this script (through .ci/run).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh test

echo "== ruff"
.venv/bin/ruff check .
.venv/bin/ruff format --check .
echo "== deptry (every import declared, every dependency used)"
# The packages against the runtime dependencies alone, then everything against all extras.
.venv/bin/deptry .
.venv/bin/deptry . --exclude '\.venv|\.data|\.git|tiler/web|catalog_api/web' \
  --optional-dependencies-dev-groups ""
echo "== import contracts (layers, no cycles)"
.venv/bin/lint-imports
echo "== mypy"
.venv/bin/mypy
echo "== pytest"
exec .venv/bin/pytest "$@"
