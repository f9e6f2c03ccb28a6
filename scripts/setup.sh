#!/usr/bin/env bash
# Everything a fresh clone needs, cached: npm packages (with Node 24 from the
# registry), the Python runtime, the Kafka broker's jars, and the TypeScript
# build. Safe to re-run.
set -euo pipefail
cd "$(dirname "$0")/.."

stamp=node_modules/.package-lock.sha256
want=$(sha256sum package-lock.json | cut -d' ' -f1)
if [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
  npm ci --no-audit --no-fund --loglevel=error
  echo "$want" >"$stamp"
fi
scripts/setup-python.sh
scripts/kafka.sh install
npx tsc -b
# npm links a workspace's bin (npx mlzero) only when its file exists, and
# cli/dist/main.js appears with the build above: link it now on a fresh clone.
[ -x node_modules/.bin/mlzero ] || npm rebuild --ignore-scripts --no-audit --no-fund --loglevel=error >/dev/null
