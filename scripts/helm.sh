#!/usr/bin/env bash
# Helm for the chart's lint, render and tests, built from its Go module (the
# Go module proxy is reachable where GitHub release downloads are not) and
# cached per version. Quiet when the binary is already there.
#
#   scripts/helm.sh install   build helm into $HELM_CACHE_DIR/<version>/ (skipped when built)
#   scripts/helm.sh path      install, then print the binary's path
#   scripts/helm.sh ARGS...   install, then run helm ARGS...
#
# Settings (environment):
#   HELM_VERSION    the helm.sh/helm/v3 module version   (v3.22.0)
#   HELM_CACHE_DIR  built binaries, per version           (.cache/helm)
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
version="${HELM_VERSION:-v3.22.0}"
bin="${HELM_CACHE_DIR:-$root/.cache/helm}/$version"

die() {
  echo "helm: $*" >&2
  exit 1
}

# One build per version; parallel callers (tests, make lint) wait for it.
install() {
  [ -x "$bin/helm" ] && return 0
  command -v go >/dev/null || die "go is needed to build helm (go install helm.sh/helm/v3/cmd/helm@$version)"
  mkdir -p "$bin"
  exec 9>"$bin/.install.lock"
  flock 9
  if ! [ -x "$bin/helm" ]; then
    echo "helm: building helm $version from the Go module proxy (once; a few minutes)" >&2
    if ! GOBIN="$bin/partial" go install "helm.sh/helm/v3/cmd/helm@$version" >"$bin/install.log" 2>&1; then
      cat "$bin/install.log" >&2
      die "cannot build helm $version"
    fi
    mv "$bin/partial/helm" "$bin/helm"
    rmdir "$bin/partial"
  fi
  exec 9>&-
}

case "${1:-}" in
  install) install ;;
  path)
    install
    echo "$bin/helm"
    ;;
  "")
    echo "usage: scripts/helm.sh install|path|ARGS..." >&2
    exit 2
    ;;
  *)
    install
    exec "$bin/helm" "$@"
    ;;
esac
