package benchreport

import (
	"cmp"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"
)

// Machine describes where the benchmarks ran.
type Machine struct {
	CPU    string // model name and count
	Memory string
	Kernel string // the host's
	Guest  string // the kernel the appliance boots, "" when unknown
	// Accelerator is what the appliance sessions ran under and why,
	// e.g. "TCG (KVM is served by kvm_pvm, ...)".
	Accelerator string
	Go          string
	QEMU        string
	Guestfsh    string // libguestfs version, "" when absent
	Load        string // load averages before the run
	Date        time.Time
}

// Names of the benchmarks the report's tables are made of.
const (
	compareNova = "CompareNovaInjection/"
	inspect     = "Inspect/"
	qemuImgInfo = "QEMUImgInfo/"
	guestfish   = "guestfish"
	direct      = "appliance-direct"
)

// Write writes the report in Markdown: the machine, the backend
// comparison, imagecheck against qemu-img, then every benchmark's median.
// command is the command that produced the input.
func Write(w io.Writer, results []*Result, m Machine, command string) error {
	var b strings.Builder
	fmt.Fprintf(&b, "Produced by `%s` on %s.\n\n", command, m.Date.Format("2006-01-02"))
	fmt.Fprintf(&b, "Machine: %s, %s, kernel %s, %s, %s, %s", m.CPU, m.Memory, m.Kernel, cmp.Or(m.Accelerator, "accelerator unknown"), m.Go, m.QEMU)
	if m.Guest != "" {
		fmt.Fprintf(&b, ", appliance kernel %s", m.Guest)
	}
	if m.Guestfsh != "" {
		fmt.Fprintf(&b, ", %s", m.Guestfsh)
	}
	fmt.Fprintf(&b, ". Load average before the run: %s.\n\n", m.Load)
	writeComparison(&b, results)
	writeImagecheck(&b, results)
	writeAll(&b, results)
	_, err := io.WriteString(w, b.String())
	return err
}

func find(results []*Result, name string) *Result {
	for _, r := range results {
		if r.Name == name {
			return r
		}
	}
	return nil
}

func writeComparison(b *strings.Builder, results []*Result) {
	var cases []*Result
	for _, r := range results {
		if strings.HasPrefix(r.Name, compareNova) {
			cases = append(cases, r)
		}
	}
	if len(cases) == 0 {
		return
	}
	gf, _ := medianOf(find(results, compareNova+guestfish))
	base, _ := medianOf(find(results, compareNova+direct))
	b.WriteString("### Nova-style injection, one image, every backend\n\n")
	b.WriteString("Open + `inject.Apply` + Commit on a fresh copy of the same 1.5 GiB Debian-like qcow2 image (`BenchmarkCompareNovaInjection`).\n\n")
	b.WriteString("| backend | runs (s/op) | median | guestfish ÷ this | this − appliance-direct |\n|---|---|---:|---:|---:|\n")
	for _, r := range cases {
		med, _ := medianOf(r)
		name := strings.TrimPrefix(r.Name, compareNova)
		fmt.Fprintf(b, "| %s | %s | **%s** | %s | %s |\n", name, samples(r), duration(med), ratio(gf, med), overhead(med, base, name == direct))
	}
	b.WriteString("\n")
}

func writeImagecheck(b *strings.Builder, results []*Result) {
	var rows []string
	for _, r := range results {
		img, ok := strings.CutPrefix(r.Name, inspect)
		if !ok {
			continue
		}
		ours, _ := medianOf(r)
		qemu, _ := medianOf(find(results, qemuImgInfo+img))
		read := "–"
		if v, ok := r.Median("B/image"); ok {
			read = strconv.FormatFloat(v/1024, 'f', 0, 64) + " KiB"
		}
		rows = append(rows, fmt.Sprintf("| %s | %s | %s | %s | %s |\n", img, duration(ours), read, duration(qemu), ratio(qemu, ours)))
	}
	if len(rows) == 0 {
		return
	}
	b.WriteString("### imagecheck against `qemu-img info`\n\n")
	b.WriteString("| image | imagecheck | bytes read | `qemu-img info` | ratio |\n|---|---:|---:|---:|---:|\n")
	b.WriteString(strings.Join(rows, ""))
	b.WriteString("\n")
}

func writeAll(b *strings.Builder, results []*Result) {
	b.WriteString("### Every benchmark (medians)\n\n| package | benchmark | runs | time/op | B/op | allocs/op |\n|---|---|---:|---:|---:|---:|\n")
	for _, r := range results {
		med, _ := medianOf(r)
		fmt.Fprintf(b, "| %s | %s | %d | %s | %s | %s |\n", shortPkg(r.Package), r.Name, len(r.Samples["ns/op"]), duration(med), metric(r, "B/op"), metric(r, "allocs/op"))
	}
}

func medianOf(r *Result) (time.Duration, bool) {
	if r == nil {
		return 0, false
	}
	v, ok := r.Median("ns/op")
	return time.Duration(v), ok
}

func samples(r *Result) string {
	s := make([]string, len(r.Samples["ns/op"]))
	for i, v := range r.Samples["ns/op"] {
		s[i] = strconv.FormatFloat(v/1e9, 'f', 2, 64)
	}
	return strings.Join(s, ", ")
}

// duration formats d with three significant digits in a unit that suits it.
func duration(d time.Duration) string {
	switch {
	case d <= 0:
		return "–"
	case d >= time.Second:
		return strconv.FormatFloat(d.Seconds(), 'f', 2, 64) + " s"
	case d >= time.Millisecond:
		return strconv.FormatFloat(float64(d)/1e6, 'f', 1, 64) + " ms"
	case d >= time.Microsecond:
		return strconv.FormatFloat(float64(d)/1e3, 'f', 1, 64) + " µs"
	}
	return strconv.FormatInt(int64(d), 10) + " ns"
}

// ratio is how many times faster than other this is.
func ratio(other, this time.Duration) string {
	if other <= 0 || this <= 0 {
		return "–"
	}
	r := float64(other) / float64(this)
	if r >= 10 {
		return strconv.FormatFloat(r, 'f', 0, 64) + "×"
	}
	return strconv.FormatFloat(r, 'f', 1, 64) + "×"
}

func overhead(this, base time.Duration, isBase bool) string {
	if isBase || this <= 0 || base <= 0 {
		return "–"
	}
	return fmt.Sprintf("%+.2f s", (this - base).Seconds())
}

func metric(r *Result, unit string) string {
	v, ok := r.Median(unit)
	if !ok {
		return "–"
	}
	return strconv.FormatFloat(v, 'f', 0, 64)
}

func shortPkg(p string) string {
	return strings.TrimPrefix(strings.TrimPrefix(p, "github.com/guestinject/guestinject"), "/")
}
