package inroot

import (
	"errors"
	"io/fs"

	"golang.org/x/sys/unix"

	"github.com/guestinject/guestinject/vfs"
)

// errnoKinds maps errnos to the contract's vocabulary. EXDEV means
// resolution tried to leave the root: it only reaches this table from
// openat2, since Rename explains its own EXDEV (two mounts) first.
var errnoKinds = map[unix.Errno]error{
	unix.ENOENT:       fs.ErrNotExist,
	unix.EEXIST:       fs.ErrExist,
	unix.EACCES:       fs.ErrPermission,
	unix.EPERM:        fs.ErrPermission,
	unix.ENOTDIR:      vfs.ErrNotDir,
	unix.EISDIR:       vfs.ErrIsDir,
	unix.ENOTEMPTY:    vfs.ErrNotEmpty,
	unix.ELOOP:        vfs.ErrSymlinkLoop,
	unix.EXDEV:        vfs.ErrEscapesRoot,
	unix.ENOSPC:       vfs.ErrNoSpace,
	unix.EDQUOT:       vfs.ErrNoSpace,
	unix.EROFS:        vfs.ErrReadOnly,
	unix.EIO:          vfs.ErrIO,
	unix.EFBIG:        vfs.ErrTooLarge,
	unix.EOPNOTSUPP:   vfs.ErrNotSupported, // == ENOTSUP on Linux
	unix.ENAMETOOLONG: vfs.ErrInvalidPath,
}

// errnoError is an errno translated to a contract error; both stay
// visible to errors.Is and in the message.
type errnoError struct {
	kind  error
	errno unix.Errno
}

func (e *errnoError) Error() string {
	return e.kind.Error() + " (" + unix.ErrnoName(e.errno) + ")"
}

func (e *errnoError) Unwrap() []error { return []error{e.kind, e.errno} }

// mapErrno translates a system error; other errors pass unchanged.
func mapErrno(err error) error {
	var errno unix.Errno
	if !errors.As(err, &errno) {
		return err
	}
	if kind, ok := errnoKinds[errno]; ok {
		return &errnoError{kind: kind, errno: errno}
	}
	return err
}

// pathErr wraps err, translated, for op on the guest path name. An
// *fs.PathError from an *os.File holding a descriptor gives up its errno.
func pathErr(op, name string, err error) error {
	if pe, ok := err.(*fs.PathError); ok {
		err = pe.Err
	}
	return &fs.PathError{Op: op, Path: name, Err: mapErrno(err)}
}
