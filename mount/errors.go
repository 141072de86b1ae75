package mount

import (
	"errors"
	"fmt"
	"strings"
)

// Sentinel errors of OpenTrusted and OpenTrustedInPlace, wrapped in *fs.PathError naming the image.
var (
	// ErrUnsupportedFormat: the declared image format cannot be attached.
	ErrUnsupportedFormat = errors.New("unsupported image format")
	// ErrFilesystemNotAllowed: the chosen volume holds a filesystem
	// outside the allowlist (ext2, ext3, ext4, xfs, btrfs, vfat).
	ErrFilesystemNotAllowed = errors.New("filesystem type not allowed")
	// ErrNoFilesystem: no volume matches the selection.
	ErrNoFilesystem = errors.New("no matching filesystem")
	// ErrAmbiguousFilesystem: more than one volume could be meant.
	ErrAmbiguousFilesystem = errors.New("more than one filesystem matches")
	// ErrTeardown: something a session attached could not be released; the
	// error says what is still there.
	ErrTeardown = errors.New("teardown incomplete")
)

// VolumeError is a failure to choose the filesystem to mount: it wraps
// ErrNoFilesystem, ErrAmbiguousFilesystem or ErrFilesystemNotAllowed and
// lists what the image holds.
type VolumeError struct {
	Err     error
	Want    string   // the selection, e.g. "partition 2" or "the only Linux filesystem"
	Volumes []Volume // what was found
}

func (e *VolumeError) Error() string {
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

func (e *VolumeError) Unwrap() error { return e.Err }
