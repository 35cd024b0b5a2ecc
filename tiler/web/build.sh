#!/bin/sh
# Install the web map's front-end dependencies from npm (pinned by package-lock.json) and copy
# what the page loads into tiler/static/vendor/, from where the tiler serves it: no CDN at run time.
# Run it once after cloning (the README's setup and .ci/run do); it needs node and npm.
set -eu
here="$(cd "$(dirname "$0")" && pwd)"
vendor="$(cd "$here/.." && pwd)/static/vendor"
cd "$here"
npm ci --no-audit --no-fund --loglevel=error
mkdir -p "$vendor"
dist="$here/node_modules/maplibre-gl/dist"
# The source map is not shipped, so drop the comment that points at it.
sed '/^\/\/# sourceMappingURL=/d' "$dist/maplibre-gl.js" > "$vendor/maplibre-gl.js"
cp "$dist/maplibre-gl.css" "$vendor/maplibre-gl.css"
cp "$dist/LICENSE.txt" "$vendor/maplibre-gl.LICENSE.txt"
node -e 'console.log("maplibre-gl " + require("maplibre-gl/package.json").version + " -> '"$vendor"'")'
