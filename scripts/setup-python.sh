#!/usr/bin/env bash
# Creates the Python runtime (.venv) from runtime/requirements.txt. Re-running
# is cheap: it reinstalls only when the requirements file changed.
set -euo pipefail
cd "$(dirname "$0")/.."
venv=.venv
stamp="$venv/.requirements.sha256"
want=$(sha256sum runtime/requirements.txt | cut -d' ' -f1)
if [ -x "$venv/bin/python" ] && [ "$(cat "$stamp" 2>/dev/null)" = "$want" ]; then
  exit 0
fi
python3 -m venv "$venv"
"$venv/bin/pip" install --quiet --disable-pip-version-check --upgrade pip
"$venv/bin/pip" install --quiet --disable-pip-version-check -r runtime/requirements.txt
echo "$want" >"$stamp"
echo "python runtime ready: $venv"
