package libvirt_test

import (
	"context"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/guestinject/guestinject/appliance"
	"github.com/guestinject/guestinject/internal/testimage"
	"github.com/guestinject/guestinject/vfs"
	"github.com/guestinject/guestinject/vfs/vfstest"
)

// fullSuiteEnv runs every conformance case through libvirt, not only the
// representative subset.
const fullSuiteEnv = "GUESTINJECT_LIBVIRT_FULL"

// representative cases cover each group of the suite and every hostile
// layout that reaches the guest kernel differently (links to host paths,
// climbs, FIFOs, device nodes, a giant sparse file). The direct launcher
// runs the whole suite; what the libvirt launcher changes is how the VM
// is started and confined, not how the agent serves the filesystem.
var representative = map[string]bool{
	"Read/OpenThroughLinks":              true,
	"Read/Owners":                        true,
	"Write/CreateOwned":                  true,
	"Write/FinalSymlinkRefused":          true,
	"Write/FailingReaderChangesNothing":  true,
	"Meta/Chmod":                         true,
	"Caps/Xattrs":                        true,
	"Errors/Closed":                      true,
	"Hostile/AbsoluteLinkToHostIsInRoot": true,
	"Hostile/DotDotClimbsStopAtRoot":     true,
	"Hostile/FIFONeverOpened":            true,
	"Hostile/DeviceNodesNeverOpened":     true,
	"Hostile/GiantSparseFile":            true,
}

// TestConformance runs the vfs conformance suite against appliances
// launched by libvirt, one VM per case: a representative subset by
// default, all of it with GUESTINJECT_LIBVIRT_FULL=1.
func TestConformance(t *testing.T) {
	launcher := needLibvirt(t)
	if testing.Short() {
		t.Skip("boots one VM per case; skipped with -short")
	}
	full := os.Getenv(fullSuiteEnv) == "1"
	vfstest.Run(t, vfstest.Harness{
		New: func(t *testing.T, hostDir string, layout vfstest.Layout) vfs.FS {
			name := strings.TrimPrefix(t.Name(), "TestConformance/")
			if !full && !representative[name] {
				t.Skipf("not in the libvirt subset; %s=1 runs it", fullSuiteEnv)
			}
			if err := layout.WriteDir(hostDir); err != nil {
				t.Fatal(err)
			}
			var data int64
			for _, e := range layout {
				data += int64(len(e.Data))
			}
			img := filepath.Join(imageDir(t), "disk.raw")
			testimage.Run(t, "mkfs.ext4", "-q", "-F", "-d", hostDir, img, strconv.FormatInt(64+2*data>>20, 10)+"M")
			testimage.Run(t, "debugfs", "-w", "-R", "rmdir /lost+found", img)
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
			defer cancel()
			s, err := appliance.Open(ctx, rawDisk(img), appliance.WithLauncher(launcher))
			if err != nil {
				t.Fatal(err)
			}
			return s
		},
		Caps: vfstest.Caps{Owners: true, DeviceNodes: true, Xattrs: true, Symlinks: true},
	})
}
