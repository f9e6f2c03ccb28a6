#!/usr/bin/env bash
# `make image-check`: what can be checked of the services image without a
# Docker engine. Lays out /app with the Dockerfile's own assemble step (from
# this tree, built) in a temporary folder outside the repository, so nothing
# resolves from the repository's node_modules, then starts each of the six
# services from it, with Node 24 and a read-only view of nothing else, and
# waits until each answers grpc.health.v1 SERVING. A runtime import that is
# only a devDependency, or an asset the image lacks, fails here.
#
# Settings (environment): IMAGE_CHECK_BASE_PORT  first of six gRPC ports (51051)
set -euo pipefail
root="$(cd "$(dirname "$0")/../.." && pwd)"
node="$root/node_modules/.bin/node"
base_port="${IMAGE_CHECK_BASE_PORT:-51051}"
work=$(mktemp -d "${TMPDIR:-/tmp}/mlzero-image-check.XXXXXX")
pids=()
cleanup() {
  for pid in "${pids[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT

started=$SECONDS
"$root/images/services/assemble.sh" "$root" "$work/app" >"$work/assemble.log" 2>&1 || {
  cat "$work/assemble.log" >&2
  exit 1
}
echo "image-check: assembled /app in $((SECONDS - started)) s ($(du -sh "$work/app" | cut -f1), production dependencies only)"

mkdir -p "$work/workspace"
services=(gateway perception memory coder executor analyzer)
for i in "${!services[@]}"; do
  service=${services[$i]}
  port=$((base_port + i))
  # The settings each one needs to start on its own (in-process bus); the executor's local runner needs a Python path only when it runs a program.
  env -i PATH="$(dirname "$node"):/usr/bin:/bin" HOME="$work" NODE_ENV=production \
    MLZERO_GRPC_PORT="$port" MLZERO_WORKSPACE_ROOT="$work/workspace" MLZERO_MEMORY_ADDRESS="127.0.0.1:$((base_port + 2))" \
    MLZERO_PYTHON=/usr/bin/python3 MLZERO_LOG_LEVEL=warn \
    "$node" "$work/app/services/$service/dist/main.js" >"$work/$service.log" 2>&1 &
  pids+=($!)
done
for i in "${!services[@]}"; do
  service=${services[$i]}
  address="127.0.0.1:$((base_port + i))"
  deadline=$((SECONDS + 60))
  until "$node" "$root/cli/dist/main.js" health "$address" --timeout 2 >/dev/null 2>&1; do
    if ! kill -0 "${pids[$i]}" 2>/dev/null || ((SECONDS >= deadline)); then
      echo "image-check: $service did not start from the image's /app:" >&2
      tail -n 20 "$work/$service.log" >&2
      exit 1
    fi
    sleep 0.5
  done
  echo "image-check: $service SERVING on $address"
done
echo "image-check: ok ($((SECONDS - started)) s)"
