#!/usr/bin/env bash
# Runs every Go fuzz target in the module for a short time (default 10s each).
# Minimisation of new inputs is capped at 1s: with the default (60s) a slow
# input being minimised when the time is up fails the run with "context
# deadline exceeded" although nothing is wrong.
set -euo pipefail
fuzztime=${1:-10s}
cd "$(dirname "$0")/.."
found=0
while IFS= read -r file; do
	dir=$(dirname "$file")
	for target in $(grep -oE '^func (Fuzz[A-Za-z0-9_]*)\(' "$file" | sed -E 's/^func (Fuzz[A-Za-z0-9_]*)\(/\1/'); do
		found=$((found + 1))
		echo "== fuzz ./$dir $target ($fuzztime)"
		go test -run '^$' -fuzz "^${target}\$" -fuzztime "$fuzztime" -fuzzminimizetime 1s "./$dir"
	done
done < <(grep -rlE '^func Fuzz' --include='*_test.go' . | grep -v '/node_modules/' | sort)
echo "fuzz: $found targets ran"
