#!/usr/bin/env bash
# Installs Jaeger v2 (OTLP in, query API and UI out) for the trace end-to-end tests, as
# $(go env GOPATH)/bin/jaeger-$VERSION, and prints its path. Jaeger has no `go install`-able
# main module of its own, so it is built in a scratch module (go get -tool, then go build).
# The build is long (over 15 minutes on 2 busy cores; see README "One order's trace"): the
# binary is cached, and a second run returns at once.
set -euo pipefail
VERSION=v1.76.0 # Jaeger v2's binary is tagged v1.x in the Go module
bin="$(go env GOPATH)/bin/jaeger-$VERSION"
if [ -x "$bin" ]; then
  echo "$bin"
  exit 0
fi
scratch=$(mktemp -d)
trap 'rm -rf "$scratch"' EXIT
(
  cd "$scratch"
  go mod init jaeger-build >/dev/null 2>&1
  go get -tool "github.com/jaegertracing/jaeger/cmd/jaeger@$VERSION" >&2
  mkdir -p "$(dirname "$bin")"
  go build -o "$bin.tmp" github.com/jaegertracing/jaeger/cmd/jaeger
  mv "$bin.tmp" "$bin"
)
echo "$bin"
