package benchreport

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

const sample = `goos: linux
goarch: amd64
pkg: github.com/guestinject/guestinject/imagecheck
cpu: AMD EPYC
BenchmarkInspect/raw.img-2         	   27000	     43100 ns/op	     16384 B/image	    5000 B/op	      40 allocs/op
BenchmarkInspect/raw.img-2         	   27000	     45100 ns/op	     16384 B/image	    5000 B/op	      40 allocs/op
BenchmarkInspect/raw.img-2         	   27000	     41100 ns/op	     16384 B/image	    5000 B/op	      40 allocs/op
BenchmarkQEMUImgInfo/raw.img-2     	      70	  15500000 ns/op
BenchmarkQEMUImgInfo/raw.img-2     	      70	  15700000 ns/op
PASS
ok  	github.com/guestinject/guestinject/imagecheck	12.3s
pkg: github.com/guestinject/guestinject/appliance/libvirt
BenchmarkCompareNovaInjection/appliance-direct-2   1	2190000000 ns/op
    compare_test.go:50: BenchmarkCompareNovaInjection/appliance-direct-2 is a log line
BenchmarkCompareNovaInjection/appliance-direct-2   1	2110000000 ns/op
BenchmarkCompareNovaInjection/appliance-libvirt-2   1	3000000000 ns/op
BenchmarkCompareNovaInjection/guestfish-2   1	10570000000 ns/op
`

func TestParse(t *testing.T) {
	results, err := Parse(strings.NewReader(sample))
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, r := range results {
		names = append(names, r.Name)
	}
	want := []string{"Inspect/raw.img", "QEMUImgInfo/raw.img", "CompareNovaInjection/appliance-direct", "CompareNovaInjection/appliance-libvirt", "CompareNovaInjection/guestfish"}
	if diff := cmp.Diff(want, names); diff != "" {
		t.Fatalf("names (-want +got):\n%s", diff)
	}
	if got := results[0].Samples["ns/op"]; !cmp.Equal(got, []float64{43100, 45100, 41100}) {
		t.Errorf("Inspect ns/op = %v", got)
	}
	if results[0].Package != "github.com/guestinject/guestinject/imagecheck" || results[2].Package != "github.com/guestinject/guestinject/appliance/libvirt" {
		t.Errorf("packages: %q, %q", results[0].Package, results[2].Package)
	}
	if m, ok := results[0].Median("ns/op"); !ok || m != 43100 {
		t.Errorf("median = %v, %v", m, ok)
	}
	if m, ok := results[2].Median("ns/op"); !ok || m != 2150000000 {
		t.Errorf("median of two = %v, %v", m, ok)
	}
	if _, ok := results[3].Median("B/op"); ok {
		t.Error("median of a unit with no samples")
	}
}

func TestParseRejectsMalformedResults(t *testing.T) {
	for _, line := range []string{
		"BenchmarkX-2  10  123 ns/op  5",
		"BenchmarkX-2  10  abc ns/op",
		"BenchmarkX-2  10  NaN ns/op",
		"BenchmarkX-2  10  +Inf ns/op",
	} {
		if _, err := Parse(strings.NewReader(line + "\n")); err == nil {
			t.Errorf("Parse(%q) succeeded", line)
		}
	}
}

func TestWrite(t *testing.T) {
	results, err := Parse(strings.NewReader(sample))
	if err != nil {
		t.Fatal(err)
	}
	var b strings.Builder
	m := Machine{CPU: "2 × AMD EPYC", Memory: "24 GiB", Kernel: "6.1", Go: "go1.26", QEMU: "QEMU 7.2", Load: "0.1, 0.2, 0.3", Accelerator: "appliance under TCG (no KVM module is loaded)", Date: time.Date(2026, 11, 23, 0, 0, 0, 0, time.UTC)}
	if err := Write(&b, results, m, "make bench"); err != nil {
		t.Fatal(err)
	}
	got := b.String()
	for _, want := range []string{
		"Produced by `make bench` on 2026-11-23.",
		"appliance under TCG (no KVM module is loaded)",
		"| appliance-direct | 2.19, 2.11 | **2.15 s** | 4.9× | – |",
		"| appliance-libvirt | 3.00 | **3.00 s** | 3.5× | +0.85 s |",
		"| guestfish | 10.57 | **10.57 s** | 1.0× | +8.42 s |",
		"| raw.img | 43.1 µs | 16 KiB | 15.6 ms | 362× |",
		"| imagecheck | Inspect/raw.img | 3 | 43.1 µs | 5000 | 40 |",
	} {
		if !strings.Contains(got, want) {
			t.Errorf("report lacks %q:\n%s", want, got)
		}
	}
}

func TestSplice(t *testing.T) {
	doc := "# Title\n\nintro\n" + string(BeginMarker) + "old\n" + string(EndMarker) + "\n## rest\n"
	got, err := Splice([]byte(doc), []byte("new table"))
	if err != nil {
		t.Fatal(err)
	}
	want := "# Title\n\nintro\n" + string(BeginMarker) + "new table\n" + string(EndMarker) + "\n## rest\n"
	if diff := cmp.Diff(want, string(got)); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
	for _, bad := range []string{"no markers", string(EndMarker) + string(BeginMarker), string(BeginMarker)} {
		if _, err := Splice([]byte(bad), []byte("x")); !errors.Is(err, ErrNoMarkers) {
			t.Errorf("Splice(%q) = %v, want ErrNoMarkers", bad, err)
		}
	}
}

func FuzzParse(f *testing.F) {
	f.Add(sample)
	f.Add("BenchmarkX-2 1 1 ns/op\n")
	f.Fuzz(func(t *testing.T, in string) {
		results, err := Parse(strings.NewReader(in))
		if err != nil {
			return
		}
		for _, r := range results {
			if r.Name == "" {
				t.Fatal("empty benchmark name")
			}
			for unit, s := range r.Samples {
				if m, ok := r.Median(unit); !ok || len(s) == 0 {
					t.Fatalf("median of %s: %v %v", unit, m, ok)
				}
			}
		}
	})
}
