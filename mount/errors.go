package mount

import (
	"errors"
	"fmt"
	"strings"
)

// Sentinel errors of OpenTrusted and OpenTrustedInPlace, wrapped in
// *fs.PathError naming the image. Choosing the root fails with the
// vfs root errors (vfs.ErrNoRoot, vfs.ErrAmbiguousRoot,
// vfs.ErrRootNotFound) inside a *RootError, and an undeclarable format
// with vfs.ErrUnsupportedFormat, as with every image backend.
var (
	// ErrFilesystemNotAllowed: the chosen volume holds a filesystem
	// outside the allowlist (ext2, ext3, ext4, xfs, btrfs, vfat).
	ErrFilesystemNotAllowed = errors.New("filesystem type not allowed")
	// ErrTeardown: something a session attached could not be released; the
	// error says what is still there.
	ErrTeardown = errors.New("teardown incomplete")
)

// RootError is a failure to choose the filesystem to mount: it wraps
// vfs.ErrNoRoot (nothing to mount without a Root), vfs.ErrRootNotFound
// (nothing matches the Root given), vfs.ErrAmbiguousRoot or
// ErrFilesystemNotAllowed, and lists what the image holds.
type RootError struct {
	Err     error
	Want    string   // the selection, e.g. "partition 2" or "the only Linux filesystem"
	Volumes []Volume // what was found
}

func (e *RootError) Error() string {
	found := make([]string, len(e.Volumes))
	for i, v := range e.Volumes {
		found[i] = v.String()
	}
	list := strings.Join(found, ", ")
	if list == "" {
		list = "none"
	}
	return fmt.Sprintf("%v: want %s; volumes: %s", e.Err, e.Want, list)
}

func (e *RootError) Unwrap() error { return e.Err }
