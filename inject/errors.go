package inject

import (
	"errors"
	"fmt"
)

// Sentinel errors, wrapped in *ItemError (together with the vfs and
// guestetc sentinels they stand beside). Match them with errors.Is.
var (
	// ErrInvalidSpec: a Spec item is malformed (a relative path, a key
	// that does not parse, an empty user name...).
	ErrInvalidSpec = errors.New("invalid spec")
	// ErrNoUser: the guest's /etc/passwd, /etc/group or /etc/shadow has
	// no entry for a name the spec uses.
	ErrNoUser = errors.New("no such user or group in the guest")
	// ErrUnsafe: the guest's layout would make the change unsafe or
	// ineffective (a symlinked ~/.ssh, a FIFO where a file is expected, a
	// password hash in a world-readable /etc/passwd...).
	ErrUnsafe = errors.New("unsafe guest layout")
	// ErrExists: a file exists and the spec says to fail in that case.
	ErrExists = errors.New("file exists")
	// ErrConflict: two items of the spec change the same path.
	ErrConflict = errors.New("conflicting changes")
	// ErrUnsupported: the guest lacks what a change needs (no network
	// renderer recognised, no init system, a backend without symlinks).
	ErrUnsupported = errors.New("not supported for this guest")
)

// ItemError says which spec item failed, on which guest path, and why.
type ItemError struct {
	Item Item   // the Spec entry, e.g. {Field: FieldFiles, Index: 2}
	Path string // guest path, when one is involved
	Err  error
}

func (e *ItemError) Error() string {
	if e.Path == "" {
		return fmt.Sprintf("inject %s: %v", e.Item, e.Err)
	}
	return fmt.Sprintf("inject %s: %s: %v", e.Item, e.Path, e.Err)
}

func (e *ItemError) Unwrap() error { return e.Err }

func itemErr(item Item, path string, err error) error {
	var ie *ItemError
	if errors.As(err, &ie) {
		return err
	}
	return &ItemError{Item: item, Path: path, Err: err}
}

func itemErrf(item Item, path string, sentinel error, format string, args ...any) error {
	return &ItemError{Item: item, Path: path, Err: fmt.Errorf("%w: %s", sentinel, fmt.Sprintf(format, args...))}
}
