#!/usr/bin/env bash
# Installs the Python client of the analyst tests — clickhouse-connect and pandas from PyPI — into a
# virtualenv under .cache/ (git-ignored), and prints the venv's python. Idempotent: reinstalls only
# when requirements.txt changed. PYTHON names the interpreter to build the venv with (python3).
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../.." && pwd)"
venv="$root/.cache/analysts/python"
mkdir -p "$root/.cache/analysts"
# One installer at a time (parallel test processes may ask together); flock is util-linux's.
if command -v flock >/dev/null 2>&1; then
  exec 9>"$root/.cache/analysts/python.lock"
  flock 9
fi
if [ -x "$venv/bin/python" ] && cmp -s "$here/requirements.txt" "$venv/.requirements"; then
  echo "$venv/bin/python"
  exit 0
fi
if ! "${PYTHON:-python3}" -m venv --clear "$venv" >&2; then
  echo "cannot create a Python virtualenv with ${PYTHON:-python3} (Debian/Ubuntu: apt-get install python3-venv)" >&2
  exit 1
fi
"$venv/bin/python" -m pip install --disable-pip-version-check --no-input -q -r "$here/requirements.txt" >&2
cp "$here/requirements.txt" "$venv/.requirements"
echo "$venv/bin/python"
