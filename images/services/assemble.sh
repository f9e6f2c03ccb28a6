#!/bin/sh
# Lays out the services image's /app from a built source tree: each
# workspace's package.json (npm ci checks them against the lockfile), the
# compiled dist/ of the libs and the six services, the files services read at
# run time (prompt templates, the memory corpus, the dashboard's page), and
# the six services' production dependencies only (npm ci --omit=dev).
# The Dockerfile runs it; `make image-check` runs it here, without Docker.
#
#   images/services/assemble.sh SRC DEST
set -eu
src=$1
dest=$2
services="gateway perception memory coder executor analyzer"
mkdir -p "$dest"
cp "$src/package.json" "$src/package-lock.json" "$dest/"
for workspace in "$src"/libs/* "$src"/services/* "$src/cli" "$src/tests"; do
  relative=${workspace#"$src"/}
  mkdir -p "$dest/$relative"
  cp "$workspace/package.json" "$dest/$relative/"
done
for lib in "$src"/libs/*; do
  cp -R "$lib/dist" "$dest/libs/$(basename "$lib")/"
done
for service in $services; do
  cp -R "$src/services/$service/dist" "$dest/services/$service/"
  # Read at run time beside dist/ (each resolved from import.meta.url).
  for assets in prompts knowledge dashboard; do
    if [ -d "$src/services/$service/$assets" ]; then cp -R "$src/services/$service/$assets" "$dest/services/$service/"; fi
  done
done
# Compiled tests and source maps are no use at run time.
find "$dest/libs" "$dest/services" \( -name '*.test.*' -o -name '*.map' -o -name '*.tsbuildinfo' \) -delete
cd "$dest"
# shellcheck disable=SC2046 # one --workspace flag per service
npm ci --omit=dev --ignore-scripts --no-audit --no-fund $(for service in $services; do printf -- '--workspace services/%s ' "$service"; done)
