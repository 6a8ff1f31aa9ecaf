#!/usr/bin/env bash
# Builds a test shipper written in Go (test/shippers/<name>: the OpenTelemetry Collector `otelcol`,
# the Fluentd forward client `fluent-go`) into .cache/bin/sluice-<name>, only when the binary is
# missing or older than its sources: the e2e suites call this before every run, and a cold build
# (modules fetched from the Go module proxy, every package compiled) takes up to minutes, while a
# rebuild from Go's build cache takes seconds. Prints the binary's path.
# Usage: build-go.sh <name>
set -euo pipefail
name="${1:?usage: build-go.sh <name of a Go module under test/shippers>}"
root="$(cd "$(dirname "$0")/../.." && pwd)"
src="$root/test/shippers/$name"
bin="$root/.cache/bin/sluice-$name"
[[ -f "$src/go.mod" ]] || { echo "build-go: no Go module at test/shippers/$name" >&2; exit 1; }

if [[ -x "$bin" && -z "$(find "$src" "$0" -newer "$bin" -print -quit)" ]]; then
  echo "$bin"
  exit 0
fi

command -v go >/dev/null || { echo "build-go: no Go toolchain on PATH (test/shippers/$name/go.mod needs $(sed -n 's/^go //p' "$src/go.mod"))" >&2; exit 1; }
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
