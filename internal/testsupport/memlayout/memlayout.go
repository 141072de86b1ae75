// Package memlayout builds in-memory guest trees from conformance-suite
// layouts, for tests of code that runs over vfs.FS.
package memlayout

import (
	"fmt"
	"io/fs"

	"golang.org/x/sys/unix"

	"github.com/guestinject/guestinject/vfs/memfs"
	"github.com/guestinject/guestinject/vfs/vfstest"
)

// Build returns a memfs tree holding exactly layout. Owners the layout
// leaves unset are root's, memfs's default owner.
func Build(layout vfstest.Layout) (*memfs.FS, error) {
	m := memfs.New()
	for _, e := range layout {
		n := memfs.Node{
			Path:   e.Path,
			Mode:   e.Mode,
			UID:    max(e.UID, 0),
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
			return nil, fmt.Errorf("building the guest tree: %w", err)
		}
	}
	return m, nil
}

// MustBuild is Build for layouts written in code; it panics on error.
func MustBuild(layout vfstest.Layout) *memfs.FS {
	m, err := Build(layout)
	if err != nil {
		panic(err)
	}
	return m
}
