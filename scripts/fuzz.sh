#!/usr/bin/env bash
# Runs every Go fuzz target in the module for a short time (default 10s each).
#
# Minimisation of new inputs is capped at 1s: with the default (60s) a slow
# input being minimised when the time is up fails the run although nothing is
# wrong.
#
# Go 1.26's fuzz coordinator can also fail a target with a bare "context
# deadline exceeded" at the end of -fuzztime when a worker is starved of CPU
# (go.dev/issue/75804, fixed in Go 1.27): no failing input is written and
# nothing reproduces. A target fails here when go test fails and either wrote
# a failing input under testdata/fuzz/<target>, or printed anything but that
# deadline error; for the bare deadline error the target's seed corpus and
# stored inputs are replayed (go test -run) and must pass.
set -euo pipefail
fuzztime=${1:-10s}
cd "$(dirname "$0")/.."
found=0
flaked=0
while IFS= read -r file; do
	dir=$(dirname "$file")
	for target in $(grep -oE '^func (Fuzz[A-Za-z0-9_]*)\(' "$file" | sed -E 's/^func (Fuzz[A-Za-z0-9_]*)\(/\1/'); do
		found=$((found + 1))
		echo "== fuzz ./$dir $target ($fuzztime)"
		corpus="$dir/testdata/fuzz/$target"
		before=$(ls "$corpus" 2>/dev/null | sort || true)
		out=$(mktemp)
		if go test -run '^$' -fuzz "^${target}\$" -fuzztime "$fuzztime" -fuzzminimizetime 1s "./$dir" 2>&1 | tee "$out"; then
			rm -f "$out"
			continue
		fi
		after=$(ls "$corpus" 2>/dev/null | sort || true)
		if [ "$before" != "$after" ]; then
			echo "fuzz: $target wrote a failing input under $corpus" >&2
			rm -f "$out"
			exit 1
		fi
		if ! grep -q '^    context deadline exceeded$' "$out" || grep -qE 'panic:|Failing input written|_test.go:[0-9]+:' "$out"; then
			echo "fuzz: $target failed" >&2
			rm -f "$out"
			exit 1
		fi
		rm -f "$out"
		echo "fuzz: $target stopped with Go's fuzztime deadline race (no failing input); replaying its corpus"
		go test -count=1 -run "^${target}\$" "./$dir"
		flaked=$((flaked + 1))
	done
done < <(grep -rlE '^func Fuzz' --include='*_test.go' . | grep -v '/node_modules/' | sort)
echo "fuzz: $found targets ran ($flaked hit Go's deadline race and passed a replay)"
