package vfs

import "errors"

// Sentinel errors, wrapped in *fs.PathError by backends. Together with
// fs.ErrNotExist, fs.ErrExist, fs.ErrPermission, fs.ErrInvalid, fs.ErrClosed,
// and the context's errors for a call whose context is done, they are the
// whole error vocabulary of the contract.
var (
	ErrInvalidPath  = errors.New("invalid guest path")
	ErrEscapesRoot  = errors.New("escapes the guest root")
	ErrNotRegular   = errors.New("not a regular file")
	ErrIsSymlink    = errors.New("is a symlink")
	ErrSymlinkLoop  = errors.New("too many levels of symbolic links")
	ErrNotDir       = errors.New("not a directory")
	ErrIsDir        = errors.New("is a directory")
	ErrNotEmpty     = errors.New("directory not empty")
	ErrTooLarge     = errors.New("file too large")
	ErrNotSupported = errors.New("operation not supported by this backend")
	ErrClosed       = errors.New("filesystem closed")
	ErrNoSpace      = errors.New("no space left on device")
	ErrReadOnly     = errors.New("read-only filesystem")
	ErrIO           = errors.New("input/output error")
)
