#!/usr/bin/env bash
# Install Debian/Ubuntu packages (as root, or with sudo), waiting for the package lock when
# another installer (unattended-upgrades, a second terminal) holds it instead of failing.
# Usage: scripts/apt-install.sh PACKAGE...
set -euo pipefail
[ $# -gt 0 ] || exit 0
SUDO=""
if [ "$(id -u)" != 0 ]; then
  if ! command -v sudo >/dev/null; then
    echo "error: please install $* (Debian/Ubuntu packages) as root" >&2
    exit 1
  fi
  SUDO="sudo"
fi
wait_s=${KAPPACAT_APT_LOCK_TIMEOUT_S:-900}
deadline=$((SECONDS + wait_s))

# apt-get waits for dpkg's lock itself (DPkg::Lock::Timeout), but `update` does not wait for
# the package lists' lock: retry while any apt lock is held, up to the deadline.
apt_get() {
  local out
  while ! out=$($SUDO env DEBIAN_FRONTEND=noninteractive \
    apt-get -o "DPkg::Lock::Timeout=$wait_s" "$@" 2>&1); do
    if grep -q -e "Could not get lock" -e "Unable to lock" <<<"$out" \
      && [ "$SECONDS" -lt "$deadline" ]; then
      echo "    another package installer is running; waiting for it to finish"
      sleep 5
      continue
    fi
    echo "$out" >&2
    return 1
  done
  echo "$out" | tail -n 1
}
echo "==> installing $* with apt-get (a minute or two; waits while another installer runs)"
apt_get update -q
apt_get install -y -q --no-install-recommends "$@"
