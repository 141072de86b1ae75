package appliance

import (
	"encoding/json"
	"path/filepath"
	"testing"

	"github.com/guestinject/guestinject/internal/testsupport/testimage"
)

// TestCreateOverlay checks the overlay against qemu-img: a consistent
// qcow2 v3 image of the right size that names no other file.
func TestCreateOverlay(t *testing.T) {
	testimage.NeedTools(t, "qemu-img", "qemu-io")
	for _, size := range []int64{1 << 20, 1536 << 20, 1<<40 + 4096} {
		p := filepath.Join(t.TempDir(), "overlay.qcow2")
		if err := createOverlay(p, size); err != nil {
			t.Fatal(err)
		}
		testimage.Run(t, "qemu-img", "check", "-q", "-f", "qcow2", p)
		var info struct {
			Format      string `json:"format"`
			VirtualSize int64  `json:"virtual-size"`
			Backing     string `json:"backing-filename"`
			Data        struct {
				Compat string `json:"compat"`
			} `json:"format-specific"`
		}
		out := testimage.Run(t, "qemu-img", "info", "--output=json", "-f", "qcow2", p)
		if err := json.Unmarshal([]byte(out), &info); err != nil {
			t.Fatal(err)
		}
		if info.Format != "qcow2" || info.VirtualSize != size || info.Backing != "" {
			t.Errorf("size %d: qemu-img info: %s", size, out)
		}
		// QEMU can write to it and the writes read back.
		testimage.Run(t, "qemu-io", "-f", "qcow2", "-c", "write -P 0x5a 0 128k", "-c", "read -P 0x5a 0 128k", p)
		testimage.Run(t, "qemu-img", "check", "-q", "-f", "qcow2", p)
	}
	for _, size := range []int64{0, -1, maxOverlaySize + 1} {
		if err := createOverlay(filepath.Join(t.TempDir(), "o"), size); err == nil {
			t.Errorf("createOverlay(%d) succeeded", size)
		}
	}
	p := filepath.Join(t.TempDir(), "exists")
	if err := createOverlay(p, 1<<20); err != nil {
		t.Fatal(err)
	}
	if err := createOverlay(p, 1<<20); err == nil {
		t.Error("createOverlay replaced an existing file")
	}
}
