package vfs

import (
	"errors"

	"github.com/guestinject/guestinject/imagecheck"
	"github.com/guestinject/guestinject/internal/guestabi"
)

// Disk is a guest disk image an image backend opens.
type Disk struct {
	// Path is the image file, a plain file name: the backends open it
	// as a file, never as a protocol or a name QEMU would interpret, and
	// refuse a name QEMU would read otherwise (imagecheck.CheckName), such
	// as "nbd:host:port" or "json:{...}"; write "./" before a relative
	// name whose first component has a colon.
	Path string
	// Format is the declared format (qemu-img's -f). It is never probed:
	// the backend checks with imagecheck that the content agrees, once,
	// before anything else reads the image.
	Format imagecheck.Format
	// ReadOnly disks are never changed, not even by Commit; filesystems on
	// them are mounted read-only and writes to them fail with ErrReadOnly.
	ReadOnly bool
}

// Root names the filesystem that holds the guest root, for guests where
// the backend cannot choose it alone. Set exactly one field. Not every
// backend can select by every field; one that cannot says so when it is
// given the Root.
type Root struct {
	// Volume names it by position: a disk of the session's list and a
	// partition number on it, 0 for the whole disk.
	Volume *VolumeRef
	// Label is the filesystem label.
	Label string
	// UUID is the filesystem UUID (case does not matter).
	UUID string
	// LV is an LVM logical volume, "vg/lv" or "/dev/vg/lv".
	LV string
}

// VolumeRef is a disk index in a session's list and a partition number
// on it (0 for the whole disk).
type VolumeRef struct {
	Disk, Partition int
}

// Errors of choosing the guest root, the same for every image backend.
// Backends return them inside an error type of their own that lists what
// they found; match them with errors.Is.
// They are the values the appliance's agent reports across the wire, so
// errors.Is matches whichever side found the problem.
var (
	// ErrNoRoot: no disk holds a Linux filesystem.
	ErrNoRoot = guestabi.ErrNoRoot
	// ErrAmbiguousRoot: several filesystems could be the root; name one
	// with a Root.
	ErrAmbiguousRoot = guestabi.ErrAmbiguousRoot
	// ErrRootNotFound: the filesystem a Root names is not there, or holds
	// nothing the backend can mount.
	ErrRootNotFound = guestabi.ErrRootNotFound
)

// ErrUnsupportedFormat means a backend cannot attach a disk's declared
// format.
var ErrUnsupportedFormat = errors.New("unsupported disk format")
