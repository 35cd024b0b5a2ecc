#!/bin/sh
# STAC Browser for tests/clients/test_stac_browser.py: installed from npm as pinned by
# tests/clients/stac-browser/package-lock.json (STAC Browser and the Vue CLI build tools its own
# devDependencies name) and built into tests/clients/stac-browser/dist/. npm runs only when the
# lock changed since the last install (offline from npm's cache when it has every package), and
# the build only when the lock changed since the last build. Needs node and npm.
# The build is generic: the test tells it the catalogue's URL at run time (dist/config.js).
set -eu
here="$(cd "$(dirname "$0")/stac-browser" && pwd)"
cd "$here"
if [ ! -f node_modules/.package-lock.json ] \
  || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  echo "==> installing STAC Browser and its build tools from npm (minutes the first time)"
  npm ci --prefer-offline --no-audit --no-fund --loglevel=error
fi
if [ ! -f dist/.built ] || [ package-lock.json -nt dist/.built ]; then
  echo "==> building STAC Browser (a minute or two)"
  rm -rf dist.tmp source
  # Its sources name files in their own node_modules/ by relative paths (ol/ol.css): build a
  # copy whose node_modules/ holds what npm nested there and links to everything else.
  cp -R node_modules/@radiantearth/stac-browser source
  rm -rf source/node_modules/.cache
  mkdir -p source/node_modules
  for entry in node_modules/* node_modules/.bin; do
    name="$(basename "$entry")"
    [ -e "source/node_modules/$name" ] || ln -s "../../node_modules/$name" "source/node_modules/$name"
  done
  # Hash routes and relative paths: the build works from any static server and path.
  (cd source && SB_historyMode=hash SB_pathPrefix=./ NODE_ENV=production \
    ../node_modules/.bin/vue-cli-service build --noSourceMaps --dest "$here/dist.tmp")
  rm -rf source
  touch dist.tmp/.built
  rm -rf dist
  mv dist.tmp dist
fi
