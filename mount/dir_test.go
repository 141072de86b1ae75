package mount_test

import (
	"os"
	"testing"
	"testing/fstest"

	"github.com/guestinject/guestinject/internal/testsupport/inroottest"
	"github.com/guestinject/guestinject/mount"
	"github.com/guestinject/guestinject/vfs"
	"github.com/guestinject/guestinject/vfs/vfstest"
)

func dirHarness() vfstest.Harness {
	root := os.Geteuid() == 0
	return vfstest.Harness{
		New: func(t *testing.T, hostDir string, layout vfstest.Layout) vfs.FS {
			if err := layout.WriteDir(hostDir); err != nil {
				t.Fatalf("building the guest tree: %v", err)
			}
			fsys, err := mount.OpenDir(hostDir)
			if err != nil {
				t.Fatal(err)
			}
			return fsys
		},
		Caps: vfstest.Caps{Owners: root, DeviceNodes: root, Xattrs: true, Symlinks: true, Renames: true, Times: true},
	}
}

func TestDirFSConformance(t *testing.T) {
	vfstest.Run(t, dirHarness())
}

// benignLayout is a guest tree for testing/fstest, which follows links
// and expects every file to open: no dangling links, no special files.
const benignLayout = `
d /etc mode=0755
f /etc/hostname data="guest\n"
f /etc/passwd data="root:x:0:0:root:/root:/bin/sh\n"
l /etc/resolv.conf target=/run/resolv.conf
l /etc/rel target=../run/resolv.conf
d /run
f /run/resolv.conf data="nameserver 192.0.2.1\n"
d /var/empty
f /var/lib/data size=100K data="head"
`

func TestDirFSIOFS(t *testing.T) {
	dir := t.TempDir()
	if err := vfstest.MustParseLayout(benignLayout).WriteDir(dir); err != nil {
		t.Fatal(err)
	}
	fsys, err := mount.OpenDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer fsys.Close()
	err = fstest.TestFS(vfs.IOFS(t.Context(), fsys),
		"etc/hostname", "etc/passwd", "etc/resolv.conf", "etc/rel", "run/resolv.conf", "var/empty", "var/lib/data")
	if err != nil {
		t.Fatal(err)
	}
}

func TestDirFSUnprivileged(t *testing.T) {
	inroottest.RerunUnprivileged(t, "^(TestDirFSConformance|TestDirFSIOFS)$", "")
}
