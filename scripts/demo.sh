#!/usr/bin/env bash
# The whole catalogue on this machine in one command: installs what is missing, starts private
# PostgreSQL + PostGIS and Redis under .data/demo (free ports; services already running are left
# alone), generates sample products, runs the pipeline, serves the STAC API and the web map.
# Ctrl-C stops everything it started; running it again reuses the data.
# Options are passed to `kappacat demo` (e.g. --products 6, --check). A second run installs
# nothing again: only what is missing or changed.
set -euo pipefail
cd "$(dirname "$0")/.."

missing=()
major=$(ls /usr/lib/postgresql 2>/dev/null | sort -n | tail -n 1 || true)
if [ -z "$major" ]; then
  missing+=(postgresql postgresql-postgis)
elif [ ! -f "/usr/share/postgresql/$major/extension/postgis.control" ]; then
  missing+=("postgresql-$major-postgis-3")
fi
command -v redis-server >/dev/null || missing+=(redis-server)
command -v npm >/dev/null || missing+=(npm)
# Debian and Ubuntu ship venv (and its pip) apart from Python itself.
"${PYTHON:-python3}" -c "import ensurepip, venv" 2>/dev/null || missing+=(python3-venv)
bash scripts/apt-install.sh "${missing[@]}"

bash scripts/setup.sh
exec .venv/bin/kappacat demo "$@"
