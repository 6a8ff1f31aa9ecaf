#!/usr/bin/env bash
# Builds the test Collector (test/shippers/otelcol) into .cache/bin/sluice-otelcol when its sources
# changed, and prints the binary's path: build-go.sh does it for every Go shipper.
exec bash "$(dirname "$0")/build-go.sh" otelcol
