#!/usr/bin/env bash
# Debian's Chromium, for the dashboard's browser test (tests/dashboard), which
# drives it with playwright-core: no test tool downloads a browser of its own.
#
#   scripts/chromium.sh install   apt-get install chromium when /usr/bin/chromium is missing; quiet when it is there
#
# Needs root (or sudo) and apt-get, as CI has on a clean clone.
set -euo pipefail

chromium=/usr/bin/chromium

die() {
  echo "chromium: $*" >&2
  exit 1
}

install() {
  [ -x "$chromium" ] && return 0
  command -v apt-get >/dev/null || die "$chromium is missing and there is no apt-get to install it: install Debian's chromium package"
  local sudo=()
  if [ "$(id -u)" != 0 ]; then
    command -v sudo >/dev/null || die "$chromium is missing: run as root (or with sudo) to apt-get install chromium"
    sudo=(sudo)
  fi
  echo "chromium: installing Debian's chromium (once)" >&2
  local log
  log=$(mktemp)
  if ! { "${sudo[@]}" apt-get update && DEBIAN_FRONTEND=noninteractive "${sudo[@]}" apt-get install -y --no-install-recommends chromium; } >"$log" 2>&1; then
    cat "$log" >&2
    rm -f "$log"
    die "cannot install chromium with apt-get"
  fi
  rm -f "$log"
  [ -x "$chromium" ] || die "apt-get installed chromium, but $chromium is not there"
}

case ${1:-} in
  install) install ;;
  *)
    echo "usage: scripts/chromium.sh install" >&2
    exit 2
    ;;
esac
