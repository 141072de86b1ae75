package wire

import (
	"context"
	"errors"
	"io/fs"

	"github.com/guestinject/guestinject/vfs"
)

// ErrorCode is the number an Error carries on the wire for a sentinel of
// the vfs contract. The numbers are part of the protocol: never renumber
// one, only add new ones at the end.
type ErrorCode uint16

// Error codes; CodeOther stands for an error outside the vocabulary.
const (
	CodeOther            ErrorCode = 0
	CodeInvalidPath      ErrorCode = 1  // vfs.ErrInvalidPath
	CodeEscapesRoot      ErrorCode = 2  // vfs.ErrEscapesRoot
	CodeNotRegular       ErrorCode = 3  // vfs.ErrNotRegular
	CodeIsSymlink        ErrorCode = 4  // vfs.ErrIsSymlink
	CodeSymlinkLoop      ErrorCode = 5  // vfs.ErrSymlinkLoop
	CodeNotDir           ErrorCode = 6  // vfs.ErrNotDir
	CodeIsDir            ErrorCode = 7  // vfs.ErrIsDir
	CodeNotEmpty         ErrorCode = 8  // vfs.ErrNotEmpty
	CodeTooLarge         ErrorCode = 9  // vfs.ErrTooLarge
	CodeNotSupported     ErrorCode = 10 // vfs.ErrNotSupported
	CodeClosed           ErrorCode = 11 // vfs.ErrClosed
	CodeNoSpace          ErrorCode = 12 // vfs.ErrNoSpace
	CodeReadOnly         ErrorCode = 13 // vfs.ErrReadOnly
	CodeIO               ErrorCode = 14 // vfs.ErrIO
	CodeNotExist         ErrorCode = 15 // fs.ErrNotExist
	CodeExist            ErrorCode = 16 // fs.ErrExist
	CodePermission       ErrorCode = 17 // fs.ErrPermission
	CodeCanceled         ErrorCode = 18 // context.Canceled
	CodeDeadlineExceeded ErrorCode = 19 // context.DeadlineExceeded
	CodeInvalid          ErrorCode = 20 // fs.ErrInvalid
	CodeFileClosed       ErrorCode = 21 // fs.ErrClosed
	CodeCannotRun        ErrorCode = 22 // vfs.ErrCannotRun
)

// codeErrors maps each code to its sentinel. Code tries them in this
// order, so an error wrapping several gets the lowest code.
var codeErrors = [...]error{
	CodeInvalidPath:      vfs.ErrInvalidPath,
	CodeEscapesRoot:      vfs.ErrEscapesRoot,
	CodeNotRegular:       vfs.ErrNotRegular,
	CodeIsSymlink:        vfs.ErrIsSymlink,
	CodeSymlinkLoop:      vfs.ErrSymlinkLoop,
	CodeNotDir:           vfs.ErrNotDir,
	CodeIsDir:            vfs.ErrIsDir,
	CodeNotEmpty:         vfs.ErrNotEmpty,
	CodeTooLarge:         vfs.ErrTooLarge,
	CodeNotSupported:     vfs.ErrNotSupported,
	CodeClosed:           vfs.ErrClosed,
	CodeNoSpace:          vfs.ErrNoSpace,
	CodeReadOnly:         vfs.ErrReadOnly,
	CodeIO:               vfs.ErrIO,
	CodeNotExist:         fs.ErrNotExist,
	CodeExist:            fs.ErrExist,
	CodePermission:       fs.ErrPermission,
	CodeCanceled:         context.Canceled,
	CodeDeadlineExceeded: context.DeadlineExceeded,
	CodeInvalid:          fs.ErrInvalid,
	CodeFileClosed:       fs.ErrClosed,
	CodeCannotRun:        vfs.ErrCannotRun,
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

// Sentinel returns the error c stands for, or nil for CodeOther and
// unknown codes.
func Sentinel(c ErrorCode) error {
	if c == CodeOther || int(c) >= len(codeErrors) {
		return nil
	}
	return codeErrors[c]
}
