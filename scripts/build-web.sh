#!/bin/sh
# The front-end files the services' pages load (MapLibre GL JS for the web map, Swagger UI for
# the API docs pages), installed from npm as pinned by each component's web/package-lock.json
# and copied into <component>/static/vendor/, from where the service serves them: no CDN at
# run time. npm runs only when a lock file changed since the last install. Needs node and npm.
# Usage: scripts/build-web.sh [COMPONENT...]   (default: catalog_api tiler)
set -eu
repo="$(cd "$(dirname "$0")/.." && pwd)"
[ $# -gt 0 ] || set -- catalog_api tiler
for component in "$@"; do
  web="$repo/$component/web"
  vendor="$repo/$component/static/vendor"
  if [ ! -f "$web/node_modules/.package-lock.json" ] \
    || [ "$web/package-lock.json" -nt "$web/node_modules/.package-lock.json" ]; then
    echo "==> installing the front-end packages of $component from npm (a few seconds)"
    (cd "$web" && npm ci --no-audit --no-fund --loglevel=error)
  fi
  mkdir -p "$vendor"
  grep -v '^#' "$web/files.txt" | while read -r source target; do
    [ -n "$source" ] || continue
    case "$source" in
      # Source maps are not shipped, so drop the comments that point at them.
      *.js | *.css) sed '/^\/\/# sourceMappingURL=/d; s#/\*\# sourceMappingURL=[^*]*\*/##' \
        "$web/node_modules/$source" > "$vendor/$target.tmp" ;;
      *) cp "$web/node_modules/$source" "$vendor/$target.tmp" ;;
    esac
    mv "$vendor/$target.tmp" "$vendor/$target"
  done
done
