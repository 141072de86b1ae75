#!/usr/bin/env bash
# Runs every fuzz target in the module for a short time (FUZZTIME, 5s by
# default), one target at a time, as go test -fuzz requires. A run that
# ends with only "context deadline exceeded" is the fuzzer's own timer
# expiring during a worker hand-over (more often on a loaded machine), not
# a finding: it is run again, up to three times in all.
set -euo pipefail
fuzztime=${FUZZTIME:-5s}
cd "$(dirname "$0")/.."
log=$(mktemp)
trap 'rm -f "$log"' EXIT
status=0
ran=0
for pkg in $(go list ./...); do
	targets=$(go test -list '^Fuzz' "$pkg" 2>/dev/null | grep '^Fuzz' || true)
	for target in $targets; do
		echo "fuzz: $pkg $target ($fuzztime)"
		for attempt in 1 2 3; do
			if go test -run='^$' -fuzz="^${target}\$" -fuzztime="$fuzztime" "$pkg" >"$log" 2>&1; then
				break
			fi
			if [[ $attempt != 3 ]] && grep -q 'context deadline exceeded' "$log" && ! grep -q 'Failing input written' "$log"; then
				echo "fuzz: $target: the fuzzer's timer expired mid-run; running it again"
				continue
			fi
			cat "$log"
			status=1
			break
		done
		ran=$((ran + 1))
	done
done
echo "fuzz: $ran targets run"
exit $status
