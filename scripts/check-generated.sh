#!/usr/bin/env bash
# Regenerates libs/proto into a scratch copy and fails if it differs from what
# is committed: generated code must never drift from proto/.
set -euo pipefail
cd "$(dirname "$0")/.."
scratch=$(mktemp -d)
trap 'rm -rf "$scratch"' EXIT
sed "s#out: libs/proto/src/gen#out: $scratch/gen#" buf.gen.yaml >"$scratch/buf.gen.yaml"
npx --no-install buf generate --template "$scratch/buf.gen.yaml"
if ! diff -r "$scratch/gen" libs/proto/src/gen >"$scratch/diff"; then
  echo "generated code in libs/proto/src/gen is stale: run \`make proto\` and commit" >&2
  head -40 "$scratch/diff" >&2
  exit 1
fi
