#!/usr/bin/env bash
# Builds the test Collector (test/shippers/otelcol) into .cache/bin/sluice-otelcol, only when the
# binary is missing or older than its sources: the e2e suite calls this before every run, and a
# cold build (modules fetched from the Go module proxy, every package compiled) takes minutes,
# while a rebuild from Go's build cache takes seconds. Prints the binary's path.
set -euo pipefail
root="$(cd "$(dirname "$0")/../.." && pwd)"
src="$root/test/shippers/otelcol"
bin="$root/.cache/bin/sluice-otelcol"

if [[ -x "$bin" && -z "$(find "$src" "$0" -newer "$bin" -print -quit)" ]]; then
  echo "$bin"
  exit 0
fi

command -v go >/dev/null || { echo "build-otelcol: no Go toolchain on PATH (go.mod needs $(sed -n 's/^go //p' "$src/go.mod"))" >&2; exit 1; }
mkdir -p "$(dirname "$bin")"
# A name of its own, renamed into place: a test run reading the binary while another builds it
# sees the old one or the new one, never half of one.
tmp="$(mktemp "$bin.XXXXXX")"
trap 'rm -f "$tmp"' EXIT
# -mod=readonly: go.sum is the record of what is built; a missing sum is an error, not a fetch.
# No VCS stamp: the module is a folder of the repo, and its build should not vary with git state.
(cd "$src" && CGO_ENABLED=0 go build -trimpath -mod=readonly -buildvcs=false -o "$tmp" .) >&2
mv -f "$tmp" "$bin"
echo "$bin"
