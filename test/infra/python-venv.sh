#!/usr/bin/env bash
# Installs a test's Python requirements into a virtualenv under .cache/<name>/python (git-ignored)
# and prints the venv's python. Idempotent: reinstalls only when the requirements file changed;
# one installer at a time (parallel test processes may ask together; flock is util-linux's).
# Usage: python-venv.sh <name> <requirements.txt>. PYTHON names the interpreter (python3).
set -euo pipefail
name="$1"
requirements="$2"
root="$(cd "$(dirname "$0")/../.." && pwd)"
venv="$root/.cache/$name/python"
mkdir -p "$root/.cache/$name"
if command -v flock >/dev/null 2>&1; then
  exec 9>"$root/.cache/$name/python.lock"
  flock 9
fi
if [ -x "$venv/bin/python" ] && cmp -s "$requirements" "$venv/.requirements"; then
  echo "$venv/bin/python"
  exit 0
fi
if ! "${PYTHON:-python3}" -m venv --clear "$venv" >&2; then
  echo "cannot create a Python virtualenv with ${PYTHON:-python3} (Debian/Ubuntu: apt-get install python3-venv)" >&2
  exit 1
fi
"$venv/bin/python" -m pip install --disable-pip-version-check --no-input -q -r "$requirements" >&2
cp "$requirements" "$venv/.requirements"
echo "$venv/bin/python"
