package imagecheck

import (
	"errors"
	"testing"

	"github.com/guestinject/guestinject/internal/testsupport/testimage"
)

// TestCorpus checks every image real tools make: benign ones are accepted
// with qemu-img's virtual size, hostile ones are refused for the right
// reason.
func TestCorpus(t *testing.T) {
	for _, img := range corpus(t) {
		t.Run(img.Name, func(t *testing.T) {
			info, err := CheckFile(bg, img.Path, img.Format, policyFor(img))
			if img.Want == "" {
				if err != nil {
					t.Fatalf("benign image refused: %v (defects %v)", err, info.Defects)
				}
			} else if !errors.Is(err, img.Want) {
				t.Fatalf("want rejection %q, got %v", img.Want, err)
			}
			if info == nil {
				return
			}
			if info.BytesRead > MaxBytesRead {
				t.Errorf("read %d bytes, limit %d", info.BytesRead, MaxBytesRead)
			}
			if img.Want == ReasonPolyglot {
				return
			}
			want := img.Format
			if img.Content != "" {
				want = img.Content
			}
			if info.Format != want {
				t.Errorf("format %q, want %q (formats %v)", info.Format, want, info.Formats)
			}
		})
	}
}

// TestDifferentialQEMU compares format and virtual size with qemu-img info
// for every image qemu-img accepts, both probed and with -f, and requires
// every image the checker accepts to open and read (start, middle and end)
// through qemu-io under the same limits.
func TestDifferentialQEMU(t *testing.T) {
	testimage.NeedTools(t, "prlimit", "qemu-io")
	for _, img := range corpus(t) {
		if !img.qemuInfo {
			continue
		}
		t.Run(img.Name, func(t *testing.T) {
			info, err := InspectFile(bg, img.Path)
			if err != nil {
				t.Fatal(err)
			}
			qi, err := runQEMUImgInfo(bg, img.Path, img.Format, DefaultQEMULimits())
			if err != nil {
				t.Fatal(err)
			}
			if qi.VirtualSize != info.VirtualSize {
				t.Errorf("virtual size %d, qemu-img says %d", info.VirtualSize, qi.VirtualSize)
			}
			probed, err := qemuInfoProbe(t, img.Path)
			if err != nil {
				t.Fatalf("qemu-img info (probing): %v", err)
			}
			if !info.Has(Format(probed.Format)) {
				t.Errorf("qemu-img probes %q, we found %v", probed.Format, info.Formats)
			}
			// Raw is listed exactly when QEMU's probe falls back to raw.
			if info.Has(Raw) != (probed.Format == "raw") {
				t.Errorf("raw listed=%v, qemu-img probes %q", info.Has(Raw), probed.Format)
			}
			if img.Want == "" {
				if err := CrossCheck(bg, img.Path, img.Format, info, DefaultQEMULimits()); err != nil {
					t.Errorf("cross-check: %v", err)
				}
				if err := runQEMUIORead(bg, img.Path, img.Format, info.VirtualSize, img.Encrypt, DefaultQEMULimits()); err != nil {
					t.Errorf("accepted, but QEMU cannot read it: %v", err)
				}
			}
		})
	}
}
