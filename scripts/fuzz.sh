#!/usr/bin/env bash
# Runs every fuzz target of the given packages for a short while each (the
# Go fuzzer: go test -fuzz), so that CI exercises the engine and not only
# the seed corpus. New crashers are written to the package's
# testdata/fuzz/FuzzName/ and fail the run.
#
#   scripts/fuzz.sh [PKG...]          default: the parsers of untrusted weights, directories, witness requests and OCI layout tars
#   FUZZTIME=30s scripts/fuzz.sh ./verify/scan
set -euo pipefail
cd "$(dirname "$0")/.."
fuzztime=${FUZZTIME:-5s}
pkgs=("$@")
[ ${#pkgs[@]} -gt 0 ] || pkgs=(./verify/scan ./verify/model ./verify/agent ./verify/tlogproof ./registry/tlog/witness ./registry/promote)
log=$(mktemp)
trap 'rm -f "$log"' EXIT
for pkg in "${pkgs[@]}"; do
	for f in $(grep -ho '^func Fuzz[A-Za-z0-9_]*' "$pkg"/*_test.go 2>/dev/null | sed 's/^func //' | sort -u); do
		printf 'fuzz %s %s (%s)\n' "$pkg" "$f" "$fuzztime"
		go test -run='^$' -fuzz="^${f}\$" -fuzztime="$fuzztime" "$pkg" >"$log" 2>&1 || { cat "$log"; exit 1; }
		grep -Eo 'execs: [0-9]+' "$log" | tail -1 || true
	done
done
