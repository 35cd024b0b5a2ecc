#!/usr/bin/env bash
# The whole catalogue on this machine in one command: installs what is missing, starts private
# PostgreSQL + PostGIS and Redis under .data/demo (free ports; services already running are left
# alone), generates sample products, runs the pipeline, serves the STAC API and the web map.
# Ctrl-C stops everything it started; running it again reuses the data.
# Options are passed to `kappacat demo` (e.g. --products 6, --check).
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
if [ ${#missing[@]} -gt 0 ]; then
  if [ "$(id -u)" = 0 ]; then
    echo "==> installing ${missing[*]}"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -q && apt-get install -y -q --no-install-recommends "${missing[@]}"
  elif command -v sudo >/dev/null; then
    echo "==> installing ${missing[*]} (sudo)"
    sudo apt-get update -q && sudo apt-get install -y -q --no-install-recommends "${missing[@]}"
  else
    echo "error: please install ${missing[*]} (Debian/Ubuntu packages)" >&2
    exit 1
  fi
fi

bash scripts/setup.sh
exec .venv/bin/kappacat demo "$@"
