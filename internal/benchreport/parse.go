package benchreport

import (
	"bufio"
	"fmt"
	"io"
	"math"
	"regexp"
	"slices"
	"strconv"
	"strings"
)

// Result is every sample of one benchmark, by unit ("ns/op", "B/op",
// custom metrics such as "B/image").
type Result struct {
	Name    string // without the "Benchmark" prefix and the -GOMAXPROCS suffix
	Package string // from the "pkg:" line before it, "" when absent
	Samples map[string][]float64
}

// Median is the median of the samples of unit, and false when there are
// none.
func (r *Result) Median(unit string) (float64, bool) {
	s := slices.Clone(r.Samples[unit])
	if len(s) == 0 {
		return 0, false
	}
	slices.Sort(s)
	if n := len(s); n%2 == 1 {
		return s[n/2], true
	} else {
		return (s[n/2-1] + s[n/2]) / 2, true
	}
}

// procsSuffix is the -GOMAXPROCS suffix go test appends to names.
var procsSuffix = regexp.MustCompile(`-\d+$`)

// maxLine bounds one line of input; benchmark lines are short.
const maxLine = 64 << 10

// Parse reads go test output and returns the benchmarks in the order they
// first appear. Lines that are not benchmark results (logs, PASS, ok) are
// ignored; a result line that is malformed is an error naming its line.
func Parse(r io.Reader) ([]*Result, error) {
	var (
		results []*Result
		byKey   = map[string]*Result{}
		pkg     string
		lineNo  int
	)
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 4096), maxLine)
	for sc.Scan() {
		lineNo++
		line := sc.Text()
		if p, ok := strings.CutPrefix(line, "pkg: "); ok {
			pkg = strings.TrimSpace(p)
			continue
		}
		f := strings.Fields(line)
		// A result is "BenchmarkName N value unit [value unit]...".
		if len(f) < 4 {
			continue
		}
		name, ok := strings.CutPrefix(f[0], "Benchmark")
		if name = procsSuffix.ReplaceAllString(name, ""); !ok || name == "" {
			continue
		}
		if _, err := strconv.ParseUint(f[1], 10, 64); err != nil {
			continue // a log line that starts with a benchmark's name
		}
		if len(f)%2 != 0 {
			return nil, fmt.Errorf("benchreport: line %d: odd number of value/unit fields: %q", lineNo, line)
		}
		key := pkg + "\x00" + name
		res := byKey[key]
		if res == nil {
			res = &Result{Name: name, Package: pkg, Samples: map[string][]float64{}}
			byKey[key] = res
			results = append(results, res)
		}
		for i := 2; i < len(f); i += 2 {
			v, err := strconv.ParseFloat(f[i], 64)
			if err != nil || math.IsNaN(v) || math.IsInf(v, 0) {
				return nil, fmt.Errorf("benchreport: line %d: bad value %q", lineNo, f[i])
			}
			res.Samples[f[i+1]] = append(res.Samples[f[i+1]], v)
		}
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("benchreport: line %d: %w", lineNo+1, err)
	}
	return results, nil
}
