package vfs

import (
	"context"
	"errors"
	"io/fs"
)

// Sentinel errors, wrapped in *fs.PathError by backends. Together with
// fs.ErrNotExist, fs.ErrExist, fs.ErrPermission, fs.ErrInvalid and
// fs.ErrClosed they are the whole error vocabulary of the contract; see Code.
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

// ErrorCode is the stable number of a contract error, for carrying errors
// across process and VM boundaries.
type ErrorCode uint16

// Error codes; CodeOther stands for an error outside the vocabulary.
const (
	CodeOther ErrorCode = iota
	CodeInvalidPath
	CodeEscapesRoot
	CodeNotRegular
	CodeIsSymlink
	CodeSymlinkLoop
	CodeNotDir
	CodeIsDir
	CodeNotEmpty
	CodeTooLarge
	CodeNotSupported
	CodeClosed
	CodeNoSpace
	CodeReadOnly
	CodeIO
	CodeNotExist
	CodeExist
	CodePermission
	CodeCanceled
	CodeDeadlineExceeded
	CodeInvalid
	CodeFileClosed
)

var codeErrors = [...]error{
	CodeInvalidPath:      ErrInvalidPath,
	CodeEscapesRoot:      ErrEscapesRoot,
	CodeNotRegular:       ErrNotRegular,
	CodeIsSymlink:        ErrIsSymlink,
	CodeSymlinkLoop:      ErrSymlinkLoop,
	CodeNotDir:           ErrNotDir,
	CodeIsDir:            ErrIsDir,
	CodeNotEmpty:         ErrNotEmpty,
	CodeTooLarge:         ErrTooLarge,
	CodeNotSupported:     ErrNotSupported,
	CodeClosed:           ErrClosed,
	CodeNoSpace:          ErrNoSpace,
	CodeReadOnly:         ErrReadOnly,
	CodeIO:               ErrIO,
	CodeNotExist:         fs.ErrNotExist,
	CodeExist:            fs.ErrExist,
	CodePermission:       fs.ErrPermission,
	CodeCanceled:         context.Canceled,
	CodeDeadlineExceeded: context.DeadlineExceeded,
	CodeInvalid:          fs.ErrInvalid,
	CodeFileClosed:       fs.ErrClosed,
}

// Code returns the code of the first sentinel err wraps, or CodeOther.
func Code(err error) ErrorCode {
	for c := CodeInvalidPath; int(c) < len(codeErrors); c++ {
		if errors.Is(err, codeErrors[c]) {
			return c
		}
	}
	return CodeOther
}

// Sentinel returns the error a code stands for, or nil for CodeOther and
// unknown codes.
func (c ErrorCode) Sentinel() error {
	if c == CodeOther || int(c) >= len(codeErrors) {
		return nil
	}
	return codeErrors[c]
}
