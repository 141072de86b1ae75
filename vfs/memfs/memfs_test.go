package memfs_test

import (
	"io/fs"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/guestinject/guestinject/vfs"
	"github.com/guestinject/guestinject/vfs/memfs"
	"github.com/guestinject/guestinject/vfs/vfstest"
)

// fromLayout builds a memfs tree holding exactly layout.
func fromLayout(t testing.TB, layout vfstest.Layout) *memfs.FS {
	t.Helper()
	m := memfs.New()
	for _, e := range layout {
		n := memfs.Node{
			Path:   e.Path,
			Mode:   e.Mode,
			UID:    max(e.UID, 0), // unset owners are the default owner, root
			GID:    max(e.GID, 0),
			Data:   []byte(e.Data),
			Size:   e.Size,
			Target: e.Target,
		}
		switch e.Kind {
		case vfstest.Dir:
			n.Mode |= fs.ModeDir
		case vfstest.Symlink:
			n.Mode = fs.ModeSymlink | 0o777
		case vfstest.FIFO:
			n.Mode |= fs.ModeNamedPipe
		case vfstest.CharDevice:
			n.Mode |= fs.ModeDevice | fs.ModeCharDevice
			n.Rdev = unix.Mkdev(e.Major, e.Minor)
		case vfstest.BlockDevice:
			n.Mode |= fs.ModeDevice
			n.Rdev = unix.Mkdev(e.Major, e.Minor)
		}
		if len(e.Xattrs) > 0 {
			n.Xattrs = map[string][]byte{}
			for k, v := range e.Xattrs {
				n.Xattrs[k] = []byte(v)
			}
		}
		if err := m.Add(n); err != nil {
			t.Fatalf("building the guest tree: %v", err)
		}
	}
	return m
}

func TestConformance(t *testing.T) {
	vfstest.Run(t, vfstest.Harness{
		New: func(t *testing.T, _ string, layout vfstest.Layout) vfs.FS {
			return fromLayout(t, layout)
		},
		Caps: vfstest.Caps{Owners: true, DeviceNodes: true, Xattrs: true, Symlinks: true},
	})
}
