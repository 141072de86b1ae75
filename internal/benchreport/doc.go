// Package benchreport turns the output of `go test -bench` into the tables
// of BENCHMARKS.md: medians of every benchmark, imagecheck against
// `qemu-img info` image by image, and the backend comparison of the
// Nova-style injection, with ratios, the machine description and the
// date. `make bench` runs it (cmd/benchreport) and splices the result into
// BENCHMARKS.md.
package benchreport
