package memfs_test

import (
	"testing"

	"github.com/guestinject/guestinject/internal/testsupport/memlayout"
	"github.com/guestinject/guestinject/vfs"
	"github.com/guestinject/guestinject/vfs/memfs"
	"github.com/guestinject/guestinject/vfs/vfstest"
)

// fromLayout builds a memfs tree holding exactly layout.
func fromLayout(t testing.TB, layout vfstest.Layout) *memfs.FS {
	t.Helper()
	m, err := memlayout.Build(layout)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func TestConformance(t *testing.T) {
	vfstest.Run(t, vfstest.Harness{
		New: func(t *testing.T, _ string, layout vfstest.Layout) vfs.FS {
			return fromLayout(t, layout)
		},
		Caps: vfstest.Caps{Owners: true, DeviceNodes: true, Xattrs: true, Symlinks: true, Renames: true, Times: true},
	})
}
