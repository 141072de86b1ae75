package imagecheck

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/guestinject/guestinject/internal/testsupport/testimage"
)

// convertPolicy accepts every format Convert is tested on.
var convertPolicy = DefaultPolicy().WithFormats(VMDK, VPC, VHDX, VDI, QED)

// convertContent is what every test source holds: three patterns, the
// rest of the disk zero (unallocated).
var convertContent = []struct {
	pattern   byte
	off, size int64
}{
	{0xa5, 0, 1 << 20},
	{0x3c, 17 << 20, 512 << 10},
	{0x77, 62 << 20, 64 << 10},
}

const convertSize = 64 << 20

func needConvertTools(t testing.TB) {
	t.Helper()
	testimage.NeedTools(t, "qemu-img", "qemu-io", "prlimit")
}

// qemuIO runs qemu-io on img (opened as format) with cmds and fails t
// when any command fails (a pattern read that finds other bytes fails).
func qemuIO(t testing.TB, format Format, img string, cmds ...string) {
	t.Helper()
	args := []string{"-f", qemuFormatName(format)}
	for _, c := range cmds {
		args = append(args, "-c", c)
	}
	out, err := exec.Command("qemu-io", append(args, img)...).CombinedOutput()
	if err != nil || bytes.Contains(out, []byte("failed")) {
		t.Fatalf("qemu-io %s: %v\n%s", strings.Join(args, " "), err, out)
	}
}

func writeContent(t testing.TB, format Format, img string) {
	t.Helper()
	var cmds []string
	for _, c := range convertContent {
		cmds = append(cmds, fmt.Sprintf("write -P %#x %d %d", c.pattern, c.off, c.size))
	}
	qemuIO(t, format, img, cmds...)
}

// readContent proves img holds convertContent and zeros around it.
func readContent(t testing.TB, format Format, img string) {
	t.Helper()
	cmds := []string{"read -P 0 1M 1M", "read -P 0 18M 1M"}
	for _, c := range convertContent {
		cmds = append(cmds, fmt.Sprintf("read -P %#x %d %d", c.pattern, c.off, c.size))
	}
	qemuIO(t, format, img, append(cmds, "read -P 0 63M 1M")...)
}

// convertSource is an upload Convert is tested on.
type convertSource struct {
	name   string
	format Format
	opts   string // qemu-img create -o
	stream bool   // made by qemu-img convert from a raw image (streamOptimized cannot be written in place)
}

var convertSources = []convertSource{
	{name: "disk.raw", format: Raw},
	{name: "disk.qcow2", format: QCOW2},
	{name: "sparse.vmdk", format: VMDK, opts: "subformat=monolithicSparse"},
	{name: "stream.vmdk", format: VMDK, opts: "subformat=streamOptimized", stream: true},
	{name: "dyn.vhd", format: VPC, opts: "subformat=dynamic"},
	{name: "fixed.vhd", format: VPC, opts: "subformat=fixed"},
	{name: "dyn.vhdx", format: VHDX},
	{name: "dyn.vdi", format: VDI},
	{name: "plain.qed", format: QED},
}

// makeSource creates s in dir with convertContent written by qemu-io.
func makeSource(t testing.TB, dir string, s convertSource) string {
	t.Helper()
	img := filepath.Join(dir, s.name)
	opts := func() []string {
		if s.opts == "" {
			return nil
		}
		return []string{"-o", s.opts}
	}
	if s.stream {
		raw := filepath.Join(dir, s.name+".raw")
		run(t, dir, "qemu-img", "create", "-q", "-f", "raw", raw, strconv.Itoa(convertSize))
		writeContent(t, Raw, raw)
		run(t, dir, "qemu-img", append(append([]string{"convert", "-f", "raw", "-O", string(s.format)}, opts()...), raw, img)...)
		os.Remove(raw)
		return img
	}
	run(t, dir, "qemu-img", append(append([]string{"create", "-q", "-f", string(s.format)}, opts()...), img, strconv.Itoa(convertSize))...)
	writeContent(t, s.format, img)
	return img
}

// fakeQEMUImg puts first in $PATH a qemu-img that appends its arguments
// and resource limits to the returned log, runs the real qemu-img with
// extra inserted after the subcommand, and exits with its status.
func fakeQEMUImg(t *testing.T, extra ...string) (log string) {
	t.Helper()
	real, err := exec.LookPath("qemu-img")
	if err != nil {
		t.Skip("no qemu-img")
	}
	dir := t.TempDir()
	log = filepath.Join(dir, "log")
	script := fmt.Sprintf(`#!/bin/sh
{ printf 'argv:'; printf ' %%s' "$@"; printf '\n'; cat /proc/$$/limits; } >>'%s'
sub=$1; shift
exec '%s' "$sub" %s "$@"
`, log, real, strings.Join(extra, " "))
	if err := os.WriteFile(filepath.Join(dir, "qemu-img"), []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	t.Setenv("PATH", dir+string(os.PathListSeparator)+os.Getenv("PATH"))
	return log
}

func TestConvertFormats(t *testing.T) {
	needConvertTools(t)
	dir := t.TempDir()
	for _, s := range convertSources {
		src := makeSource(t, dir, s)
		want, err := CheckFile(bg, src, s.format, convertPolicy)
		if err != nil {
			t.Fatalf("%s: the source does not pass: %v", s.name, err)
		}
		before := testimage.FileHash(t, src)
		for _, to := range []Format{QCOW2, Raw} {
			t.Run(s.name+"->"+string(to), func(t *testing.T) {
				dst := filepath.Join(t.TempDir(), "out."+string(to))
				var progress []float64
				info, err := Convert(bg, src, s.format, dst, to, convertPolicy, WithProgress(func(p float64) { progress = append(progress, p) }))
				if err != nil {
					t.Fatal(err)
				}
				if info.Format != to || info.VirtualSize != want.VirtualSize || info.BackingFile != "" {
					t.Errorf("output info: format %s, virtual size %d (source %d), backing %q", info.Format, info.VirtualSize, want.VirtualSize, info.BackingFile)
				}
				if len(progress) == 0 || progress[len(progress)-1] != 100 {
					t.Errorf("progress %v, want it to end at 100", progress)
				}
				if out, err := exec.Command("qemu-img", "compare", "-q", "-f", qemuFormatName(s.format), "-F", string(to), src, dst).CombinedOutput(); err != nil {
					t.Errorf("qemu-img compare: %v\n%s", err, out)
				}
				readContent(t, to, dst)
				if testimage.FileHash(t, src) != before {
					t.Error("the source changed")
				}
			})
		}
	}
}

// noQEMUImg fails t when the fake qemu-img logged a start.
func noQEMUImg(t *testing.T, log string) {
	t.Helper()
	if b, err := os.ReadFile(log); err == nil {
		t.Errorf("qemu-img was started:\n%s", b)
	}
}

func TestConvertRefusesHostileSources(t *testing.T) {
	needConvertTools(t)
	dir := t.TempDir()
	base := filepath.Join(dir, "base.raw")
	run(t, dir, "qemu-img", "create", "-q", "-f", "raw", base, "16M")
	overlay := filepath.Join(dir, "overlay.qcow2")
	run(t, dir, "qemu-img", "create", "-q", "-f", "qcow2", "-b", base, "-F", "raw", overlay)
	baseVMDK := filepath.Join(dir, "base.vmdk")
	run(t, dir, "qemu-img", "create", "-q", "-f", "vmdk", baseVMDK, "16M")
	child := filepath.Join(dir, "child.vmdk")
	run(t, dir, "qemu-img", "create", "-q", "-f", "vmdk", "-b", baseVMDK, "-F", "vmdk", child)
	flat := filepath.Join(dir, "flat.vmdk")
	run(t, dir, "qemu-img", "create", "-q", "-f", "vmdk", "-o", "subformat=monolithicFlat", flat, "16M")
	embedded := filepath.Join(dir, "embedded.vmdk")
	if err := os.WriteFile(embedded, craftVMDK(2048, vmdkDesc("monolithicSparse", `RW 2048 FLAT "/etc/passwd" 0`)), 0o644); err != nil {
		t.Fatal(err)
	}
	qcow2 := filepath.Join(dir, "real.qcow2")
	run(t, dir, "qemu-img", "create", "-q", "-f", "qcow2", qcow2, "16M")
	polyglot := filepath.Join(dir, "polyglot.raw")
	run(t, dir, "qemu-img", "create", "-q", "-f", "raw", polyglot, "16M")
	qemuIO(t, Raw, polyglot, "write -s "+qcow2+" 0 512")
	enc := filepath.Join(dir, "enc.qcow2")
	var err error
	for range 5 { // LUKS key setup times itself and can fail on a busy machine
		if err = runStdin(dir, "", "qemu-img", "create", "-q", lukSecret, "-f", "qcow2", "-o", "encrypt.format=luks,encrypt.key-secret=sec0,encrypt.iter-time=50", enc, "16M"); err == nil {
			break
		}
	}
	if err != nil {
		t.Fatal(err)
	}

	log := fakeQEMUImg(t)
	encPolicy := convertPolicy
	encPolicy.AllowEncryption = true
	for _, tc := range []struct {
		name   string
		src    string
		format Format
		p      Policy
		want   Reason
	}{
		{"qcow2 backing file", overlay, QCOW2, convertPolicy, ReasonBackingFile},
		{"vmdk parent", child, VMDK, convertPolicy, ReasonBackingFile},
		{"vmdk descriptor file naming its flat extent", flat, VMDK, convertPolicy, ReasonExternalExtent},
		{"vmdk embedded descriptor naming /etc/passwd", embedded, VMDK, convertPolicy, ReasonExternalExtent},
		{"qcow2 declared vmdk", qcow2, VMDK, convertPolicy, ReasonFormatMismatch},
		{"qcow2 declared raw", qcow2, Raw, convertPolicy, ReasonFormatMismatch},
		{"raw guest holding a qcow2 header declared raw", polyglot, Raw, convertPolicy, ReasonFormatMismatch},
		{"vmdk not allowed", child, VMDK, DefaultPolicy(), ReasonFormatNotAllowed},
		{"encrypted even when the policy allows it", enc, QCOW2, encPolicy, ReasonEncrypted},
		{"no declared format", qcow2, "", convertPolicy, ReasonNoDeclaredFormat},
	} {
		t.Run(tc.name, func(t *testing.T) {
			before := testimage.FileHash(t, tc.src)
			dst := filepath.Join(t.TempDir(), "out.qcow2")
			info, err := Convert(bg, tc.src, tc.format, dst, QCOW2, tc.p)
			if !errors.Is(err, tc.want) || info != nil {
				t.Fatalf("Convert = %v, %v; want a rejection for %q", info, err, tc.want)
			}
			if _, err := os.Lstat(dst); !errors.Is(err, fs.ErrNotExist) {
				t.Errorf("the output exists: %v", err)
			}
			if testimage.FileHash(t, tc.src) != before {
				t.Error("the source changed")
			}
		})
	}
	noQEMUImg(t, log)
}

func TestConvertRefusesOtherOutputFormats(t *testing.T) {
	dir := t.TempDir()
	src := filepath.Join(dir, "disk.raw")
	if err := os.WriteFile(src, make([]byte, 1<<20), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, to := range []Format{VMDK, VPC, "", ISO} {
		dst := filepath.Join(dir, "out")
		if _, err := Convert(bg, src, Raw, dst, to, DefaultPolicy()); err == nil || !strings.Contains(err.Error(), "raw or qcow2") {
			t.Errorf("to %q: %v", to, err)
		}
		if _, err := os.Lstat(dst); err == nil {
			t.Errorf("to %q: the output was created", to)
		}
	}
}

// The output is created exclusively: an existing file, a symlink to one
// or a dangling symlink is left as it was, and qemu-img never starts.
func TestConvertNeverReplaces(t *testing.T) {
	needConvertTools(t)
	dir := t.TempDir()
	src := makeSource(t, dir, convertSources[2])
	precious := filepath.Join(dir, "precious")
	if err := os.WriteFile(precious, []byte("precious\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	link := filepath.Join(dir, "link")
	if err := os.Symlink(precious, link); err != nil {
		t.Fatal(err)
	}
	dangling := filepath.Join(dir, "dangling")
	target := filepath.Join(dir, "not-there")
	if err := os.Symlink(target, dangling); err != nil {
		t.Fatal(err)
	}
	log := fakeQEMUImg(t)
	for _, dst := range []string{precious, link, dangling, src} {
		before := testimage.FileHash(t, precious)
		srcBefore := testimage.FileHash(t, src)
		if _, err := Convert(bg, src, VMDK, dst, QCOW2, convertPolicy); !errors.Is(err, fs.ErrExist) {
			t.Errorf("output %s: %v, want fs.ErrExist", filepath.Base(dst), err)
		}
		if testimage.FileHash(t, precious) != before || testimage.FileHash(t, src) != srcBefore {
			t.Errorf("output %s: a file changed", filepath.Base(dst))
		}
	}
	if _, err := os.Lstat(target); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("the dangling symlink's target was created: %v", err)
	}
	if _, err := os.Lstat(link); err != nil {
		t.Errorf("the symlink went: %v", err)
	}
	noQEMUImg(t, log)
}

// Cancelling the context while qemu-img copies a big sparse image kills
// it and leaves no output.
func TestConvertCancelLeavesNoPartialOutput(t *testing.T) {
	needConvertTools(t)
	dir := t.TempDir()
	src := filepath.Join(dir, "big.raw")
	testimage.Sparse(t, src, 8<<30)
	var cmds []string
	for i := range int64(16) {
		cmds = append(cmds, fmt.Sprintf("write -P %#x %d 32M", 0x10+i, i<<29))
	}
	qemuIO(t, Raw, src, cmds...)
	outDir := t.TempDir()
	for _, to := range []Format{QCOW2, Raw} {
		t.Run(string(to), func(t *testing.T) {
			ctx, cancel := context.WithCancel(bg)
			defer cancel()
			dst := filepath.Join(outDir, "out."+string(to))
			var last float64
			info, err := Convert(ctx, src, Raw, dst, to, convertPolicy, WithProgress(func(p float64) {
				last = p
				if p > 0 {
					cancel()
				}
			}))
			if !errors.Is(err, context.Canceled) || info != nil {
				t.Fatalf("Convert = %v, %v; want context.Canceled", info, err)
			}
			if last == 0 || last >= 100 {
				t.Errorf("cancelled at %v%%, want mid-way", last)
			}
			if ents, _ := os.ReadDir(outDir); len(ents) != 0 {
				t.Errorf("left %v", ents)
			}
		})
	}
}

func TestConvertFailsWhenTheSourceChanges(t *testing.T) {
	needConvertTools(t)
	dir := t.TempDir()
	src := makeSource(t, dir, convertSources[1])
	dst := filepath.Join(dir, "out.raw")
	touched := false
	_, err := Convert(bg, src, QCOW2, dst, Raw, convertPolicy, WithProgress(func(float64) {
		if !touched {
			touched = true
			later := time.Now().Add(time.Hour)
			if err := os.Chtimes(src, later, later); err != nil {
				t.Error(err)
			}
		}
	}))
	if !errors.Is(err, errSourceChanged) {
		t.Fatalf("Convert: %v, want the change reported", err)
	}
	if _, err := os.Lstat(dst); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("the output exists: %v", err)
	}
}

// The converted image is checked: a vmdk whose guest disk starts with a
// qcow2 header converts to qcow2, but not to raw, where the header would
// be the file's.
func TestConvertChecksTheOutput(t *testing.T) {
	needConvertTools(t)
	dir := t.TempDir()
	qcow2 := filepath.Join(dir, "inner.qcow2")
	run(t, dir, "qemu-img", "create", "-q", "-f", "qcow2", qcow2, "16M")
	src := filepath.Join(dir, "disk.vmdk")
	run(t, dir, "qemu-img", "create", "-q", "-f", "vmdk", src, "16M")
	qemuIO(t, VMDK, src, "write -s "+qcow2+" 0 512")
	if _, err := Convert(bg, src, VMDK, filepath.Join(dir, "out.qcow2"), QCOW2, convertPolicy); err != nil {
		t.Errorf("to qcow2: %v", err)
	}
	dst := filepath.Join(dir, "out.raw")
	_, err := Convert(bg, src, VMDK, dst, Raw, convertPolicy)
	var rej *RejectionError
	if !errors.As(err, &rej) || rej.Reason != ReasonFormatMismatch || rej.Path != dst {
		t.Fatalf("to raw: %v, want the output refused as a format mismatch", err)
	}
	if _, err := os.Lstat(dst); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("the refused output exists: %v", err)
	}
}

// limitsRE reads a line of /proc/PID/limits: name, soft, hard.
var limitsRE = regexp.MustCompile(`(?m)^(Max [a-z ]+?)\s{2,}(\S+)\s+(\S+)`)

// qemu-img runs under prlimit with the default limits, the source and
// output as descriptors, and exactly this command line.
func TestConvertRunsQEMUImgUnderLimits(t *testing.T) {
	needConvertTools(t)
	dir := t.TempDir()
	src := makeSource(t, dir, convertSources[2])
	log := fakeQEMUImg(t)
	if _, err := Convert(bg, src, VMDK, filepath.Join(dir, "out.qcow2"), QCOW2, convertPolicy); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(log)
	if err != nil {
		t.Fatalf("qemu-img was not started through $PATH: %v", err)
	}
	wantArgv := `argv: convert -O qcow2 json:{"backing":null,"driver":"vmdk","file":{"driver":"file","filename":"/proc/self/fd/3"}} /proc/self/fd/4`
	if got := strings.SplitN(string(b), "\n", 2)[0]; got != wantArgv {
		t.Errorf("qemu-img argv\n got %s\nwant %s", got, wantArgv)
	}
	lim := DefaultConvertLimits(convertSize)
	limits := map[string][2]string{}
	for _, m := range limitsRE.FindAllStringSubmatch(string(b), -1) {
		limits[m[1]] = [2]string{m[2], m[3]}
	}
	for name, want := range map[string]int64{
		"Max cpu time":       lim.CPUSeconds,
		"Max address space":  lim.AddressSpace,
		"Max file size":      lim.FileSize,
		"Max core file size": 0,
	} {
		w := strconv.FormatInt(want, 10)
		if got := limits[name]; got != [2]string{w, w} {
			t.Errorf("%s: soft, hard %v, want %s", name, got, w)
		}
	}
}

func TestConvertLimitsStopQEMUImg(t *testing.T) {
	needConvertTools(t)
	dir := t.TempDir()
	src := makeSource(t, dir, convertSources[1])
	for _, tc := range []struct {
		name string
		to   Format
		lim  ConvertLimits
		want string
	}{
		{"file size raw", Raw, ConvertLimits{FileSize: 1 << 20}, "file size"},
		{"file size qcow2", QCOW2, ConvertLimits{FileSize: 1 << 20}, "file size"},
		{"wall time", QCOW2, ConvertLimits{WallTime: time.Millisecond}, "wall time"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dst := filepath.Join(t.TempDir(), "out")
			_, err := Convert(bg, src, QCOW2, dst, tc.to, convertPolicy, WithLimits(tc.lim))
			if !errors.Is(err, ErrResourceLimit) || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("Convert: %v, want ErrResourceLimit for the %s", err, tc.want)
			}
			if _, err := os.Lstat(dst); !errors.Is(err, fs.ErrNotExist) {
				t.Errorf("the output exists: %v", err)
			}
		})
	}
}

func TestConvertProgressParsing(t *testing.T) {
	var got []float64
	w := &progressWriter{fn: func(p float64) { got = append(got, p) }, last: -1}
	out := "    (0.00/100%)\r    (1.56/100%)\r    (3.1" + "2/100%)\r    (3.12/100%)\r(NaN/100%)\r(150.00/100%)\rnoise\n" +
		"    (2.00/100%)\r    (100.00/100%)\r\n"
	for i := 0; i < len(out); i += 5 {
		w.Write([]byte(out[i:min(i+5, len(out))]))
	}
	want := []float64{0, 1.56, 3.12, 100}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("progress %v, want %v", got, want)
	}
}

func TestDefaultConvertLimitsGrowWithSize(t *testing.T) {
	small, big := DefaultConvertLimits(1<<20), DefaultConvertLimits(1<<40)
	if small.CPUSeconds != 10 || big.CPUSeconds != 10+1<<14 || big.FileSize < 1<<40 || big.WallTime <= small.WallTime {
		t.Errorf("limits %+v and %+v", small, big)
	}
	l := ConvertLimits{WallTime: time.Second}.orDefault(1 << 20)
	if l.WallTime != time.Second || l.CPUSeconds != small.CPUSeconds || l.AddressSpace != small.AddressSpace || l.FileSize != small.FileSize {
		t.Errorf("orDefault: %+v", l)
	}
}
