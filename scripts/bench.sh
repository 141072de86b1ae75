#!/usr/bin/env bash
# make bench: installs what the comparison needs (guestfish, libvirt), runs
# every benchmark of the module five times, keeps the raw output in
# bench-results/, and rewrites the generated tables of BENCHMARKS.md from
# it (medians, ratios, the machine and the date). Run it on an idle
# machine: the appliance cases boot emulated VMs and share the CPU.
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/install-deps.sh bench
export GUESTINJECT_E2E=1
export PATH="$PATH:/usr/sbin:/sbin"
count=${BENCHCOUNT:-5}
mkdir -p bench-results
raw=bench-results/$(date +%Y%m%d-%H%M%S).txt
load=$(cut -d' ' -f1-3 /proc/loadavg | sed 's/ /, /g')
# One package at a time, like make test: the VMs get the CPU to themselves.
go test -run='^$' -bench=. -benchmem -count="$count" -p 1 -timeout 90m ./... | tee "$raw"
go run ./internal/benchreport/cmd/benchreport -command "make bench" -load "$load" -splice BENCHMARKS.md <"$raw"
echo "bench: raw results in $raw; BENCHMARKS.md updated"
