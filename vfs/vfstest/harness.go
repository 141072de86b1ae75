package vfstest

import (
	"testing"

	"github.com/guestinject/guestinject/vfs"
)

// Harness tells Run how to make a backend and what it can do.
type Harness struct {
	// New returns a backend whose guest root holds exactly layout.
	// hostDir is an empty host directory the backend may keep its guest
	// tree in (Layout.WriteDir builds it there); it sits next to the
	// suite's canary directory, so hostile links in layouts can aim at
	// the canary by absolute host path and by ".." climbs. New fails the
	// test when it cannot build the backend; Run closes the result.
	New  func(t *testing.T, hostDir string, layout Layout) vfs.FS
	Caps Caps
}

// Caps declares what a backend can do. Cases that need a capability the
// backend lacks are skipped with a message naming it, never silently.
type Caps struct {
	// Owners: layouts may set owners and Lchown and WriteOptions.UID/GID
	// may name any id (a host backend needs root).
	Owners bool
	// DeviceNodes: layouts may hold character and block device nodes (a
	// host backend needs CAP_MKNOD).
	DeviceNodes bool
	// Xattrs: the backend is a vfs.XattrFS handling "user." attributes.
	Xattrs bool
	// Symlinks: the backend is a vfs.SymlinkFS.
	Symlinks bool
	// Renames: the backend is a vfs.RenameFS.
	Renames bool
	// Times: the backend is a vfs.TimesFS that keeps nanoseconds and
	// reports access times (vfs.Attr.Atime).
	Times bool
}
