package imagecheck

import (
	"bytes"
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/guestinject/guestinject/internal/testsupport/testimage"
)

type failingReader struct{ err error }

func (r failingReader) ReadAt([]byte, int64) (int, error) { return 0, r.err }

// countingReader records every byte range requested.
type countingReader struct {
	r     io.ReaderAt
	bytes int64
}

func (c *countingReader) ReadAt(p []byte, off int64) (int, error) {
	n, err := c.r.ReadAt(p, off)
	c.bytes += int64(n)
	return n, err
}

func TestInspectHonoursCancelledContext(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	img := craftQCOW2(1 << 30)
	_, err := Inspect(ctx, bytes.NewReader(img), int64(len(img)))
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("want context.Canceled, got %v", err)
	}
}

func TestInspectReportsReadErrors(t *testing.T) {
	boom := errors.New("boom")
	_, err := Inspect(bg, failingReader{boom}, 1<<20)
	if !errors.Is(err, boom) {
		t.Fatalf("want boom, got %v", err)
	}
	// A reader shorter than the size it claims is an error, not zeros.
	_, err = Inspect(bg, bytes.NewReader(make([]byte, 100)), 1<<20)
	if err == nil || !strings.Contains(err.Error(), "short read") {
		t.Fatalf("want short read error, got %v", err)
	}
}

// TestBytesReadIsCounted checks BytesRead against what the reader served
// and that a huge sparse image costs no more than a small one.
func TestBytesReadIsCounted(t *testing.T) {
	for _, c := range craftedCases() {
		cr := &countingReader{r: bytes.NewReader(c.img)}
		info, err := Inspect(bg, cr, int64(len(c.img)))
		if err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		if info.BytesRead != cr.bytes {
			t.Errorf("%s: BytesRead %d, reader served %d", c.name, info.BytesRead, cr.bytes)
		}
	}
	big := &zeroTail{head: craftQCOW2(1 << 30), size: 1 << 40}
	info, err := Inspect(bg, big, big.size)
	if err != nil {
		t.Fatal(err)
	}
	if info.BytesRead > 64<<10 {
		t.Errorf("read %d bytes of a 1 TiB file", info.BytesRead)
	}
}

// zeroTail is a huge image: head followed by zeros.
type zeroTail struct {
	head []byte
	size int64
}

func (z *zeroTail) ReadAt(p []byte, off int64) (int, error) {
	clear(p)
	if off < int64(len(z.head)) {
		copy(p, z.head[off:])
	}
	if off+int64(len(p)) > z.size {
		return int(max(0, z.size-off)), io.EOF
	}
	return len(p), nil
}

func TestCheckFileRefusesNonRegularFiles(t *testing.T) {
	fifo := filepath.Join(t.TempDir(), "fifo")
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Fatal(err)
	}
	_, err := CheckFile(bg, fifo, Raw, DefaultPolicy())
	var pe *os.PathError
	if !errors.As(err, &pe) {
		t.Fatalf("want *os.PathError for a FIFO, got %v", err)
	}
	if _, err := CheckFile(bg, t.TempDir(), Raw, DefaultPolicy()); err == nil {
		t.Fatal("a directory was accepted")
	}
}

func TestCheckFileNamesThePath(t *testing.T) {
	path := filepath.Join(t.TempDir(), "disk.img")
	if err := os.WriteFile(path, craftQCOW2(1<<30), 0o600); err != nil {
		t.Fatal(err)
	}
	_, err := CheckFile(bg, path, Raw, DefaultPolicy())
	var rej *RejectionError
	if !errors.As(err, &rej) || rej.Path != path || !strings.HasPrefix(err.Error(), path+": ") {
		t.Fatalf("want a rejection naming %s, got %v", path, err)
	}
	if _, err := CheckFile(bg, path, QCOW2, DefaultPolicy()); err != nil {
		t.Fatalf("benign qcow2 refused: %v", err)
	}
}

func TestParseFormat(t *testing.T) {
	for in, want := range map[string]Format{"qcow2": QCOW2, "VHD": VPC, "vpc": VPC, " raw ": Raw, "iso9660": ISO, "udf": ISO} {
		got, err := ParseFormat(in)
		if err != nil || got != want {
			t.Errorf("ParseFormat(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	for _, in := range []string{"", "auto", "AUTO"} {
		if _, err := ParseFormat(in); !errors.Is(err, ReasonNoDeclaredFormat) {
			t.Errorf("ParseFormat(%q): want ReasonNoDeclaredFormat, got %v", in, err)
		}
	}
	if _, err := ParseFormat("json:{}"); err == nil {
		t.Error("ParseFormat accepted json:{}")
	}
}

func TestWithFormatsDoesNotAlias(t *testing.T) {
	base := DefaultPolicy()
	base.AllowedFormats = base.AllowedFormats[:1:2]
	a := base.WithFormats(VMDK)
	b := base.WithFormats(VHDX)
	if a.AllowedFormats[1] != VMDK || b.AllowedFormats[1] != VHDX {
		t.Fatalf("policies share storage: %v %v", a.AllowedFormats, b.AllowedFormats)
	}
}

func TestZeroPolicyRefusesEverything(t *testing.T) {
	img := make([]byte, 4096)
	if _, err := Check(bg, bytes.NewReader(img), 4096, Raw, Policy{}); !errors.Is(err, ReasonFormatNotAllowed) {
		t.Fatalf("zero policy: want ReasonFormatNotAllowed, got %v", err)
	}
}

// TestRawSizeRoundsUp follows QEMU: a raw file's length is counted in whole
// 512-byte sectors.
func TestRawSizeRoundsUp(t *testing.T) {
	img := make([]byte, 1000)
	info, err := Inspect(bg, bytes.NewReader(img), int64(len(img)))
	if err != nil {
		t.Fatal(err)
	}
	if info.VirtualSize != 1024 {
		t.Fatalf("virtual size %d, want 1024", info.VirtualSize)
	}
}

func TestNeutralPath(t *testing.T) {
	for _, p := range []string{"json:{}", "nbd:localhost:10809", "file:x", "-f"} {
		got, err := neutralPath(p)
		if err != nil {
			t.Fatal(err)
		}
		if !strings.HasPrefix(got, "/") || !strings.HasSuffix(got, "/"+p) {
			t.Errorf("neutralPath(%q) = %q", p, got)
		}
	}
}

// TestCrossCheckRefusesDisagreement feeds CrossCheck an Info that lies about
// the virtual size and expects ReasonQEMUDisagrees.
func TestCrossCheckRefusesDisagreement(t *testing.T) {
	testimage.NeedTools(t, "qemu-img", "prlimit")
	path := filepath.Join(t.TempDir(), "json:{}")
	if err := os.WriteFile(path, craftQCOW2(1<<30), 0o600); err != nil {
		t.Fatal(err)
	}
	info, err := CheckFile(bg, path, QCOW2, DefaultPolicy())
	if err != nil {
		t.Fatal(err)
	}
	if err := CrossCheck(bg, path, QCOW2, info, DefaultQEMULimits()); err != nil {
		t.Fatalf("cross-check of a benign image: %v", err)
	}
	lie := *info
	lie.VirtualSize++
	if err := CrossCheck(bg, path, QCOW2, &lie, DefaultQEMULimits()); !errors.Is(err, ReasonQEMUDisagrees) {
		t.Fatalf("want ReasonQEMUDisagrees, got %v", err)
	}
	// Under a tiny address-space limit qemu-img cannot even start.
	if err := CrossCheck(bg, path, QCOW2, info, QEMULimits{AddressSpace: 1 << 20, CPUSeconds: 1}); err == nil {
		t.Fatal("qemu-img ran under a 1 MiB address-space limit")
	}
}
