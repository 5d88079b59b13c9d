#!/usr/bin/env bash
# Runs every fuzz target in the repository (found by name, so a new one is
# never forgotten) for FUZZTIME each (default 20s). Crashers are written to
# the package's testdata/fuzz/ by go test: commit them with the fix.
set -euo pipefail
cd "$(dirname "$0")/.."
FUZZTIME="${FUZZTIME:-20s}"
grep -rl --include='*_test.go' -E '^func Fuzz[A-Za-z0-9_]*\(' --exclude-dir=node_modules . | sort | while read -r file; do
  pkg="./$(dirname "${file#./}")"
  for target in $(grep -oE '^func Fuzz[A-Za-z0-9_]*' "$file" | sed 's/^func //'); do
    echo "== $pkg $target ($FUZZTIME)"
    go test -run '^$' -fuzz "^${target}\$" -fuzztime "$FUZZTIME" "$pkg"
  done
done
