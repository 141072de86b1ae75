package appliance_test

import (
	"context"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/guestinject/guestinject/appliance"
	"github.com/guestinject/guestinject/vfs"
	"github.com/guestinject/guestinject/vfs/vfstest"
)

// TestConformance runs the vfs conformance suite against the appliance:
// every case builds an ext4 image from its layout with mkfs.ext4 -d and
// boots its own VM, so the hostile layouts meet the real guest kernel and
// agent. It takes minutes under TCG; -short skips it.
func TestConformance(t *testing.T) {
	needE2E(t)
	if testing.Short() {
		t.Skip("boots one VM per case; skipped with -short")
	}
	root := os.Geteuid() == 0
	vfstest.Run(t, vfstest.Harness{
		New: func(t *testing.T, hostDir string, layout vfstest.Layout) vfs.FS {
			if err := layout.WriteDir(hostDir); err != nil {
				t.Fatal(err)
			}
			var data int64
			for _, e := range layout {
				data += int64(len(e.Data))
			}
			img := filepath.Join(t.TempDir(), "disk.raw")
			sizeMiB := 64 + 2*data>>20
			run(t, "mkfs.ext4", "-q", "-F", "-d", hostDir, img, strconv.FormatInt(sizeMiB, 10)+"M")
			// The guest root must hold exactly the layout.
			run(t, "debugfs", "-w", "-R", "rmdir /lost+found", img)
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
			defer cancel()
			s, err := appliance.Open(ctx, []appliance.Disk{{Path: img, Format: "raw"}})
			if err != nil {
				t.Fatal(err)
			}
			return s
		},
		Caps: vfstest.Caps{Owners: root, DeviceNodes: root, Xattrs: true, Symlinks: true},
	})
}
