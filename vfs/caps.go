package vfs

import (
	"context"
	"fmt"
	"io/fs"
	"time"
)

// XattrFS is implemented by backends that handle extended attributes, such
// as "security.selinux". None of these calls follows a final symlink. The
// Linux rules apply: "user." attributes exist only on regular files and
// directories (elsewhere fs.ErrPermission), "security." and "trusted." ones
// also on symlinks, values are at most 64 KiB (ErrTooLarge), and unknown
// namespaces fail with ErrNotSupported.
type XattrFS interface {
	FS
	// Lgetxattr returns the value of attribute attr of name.
	Lgetxattr(ctx context.Context, name, attr string) ([]byte, error)
	// Lsetxattr creates or replaces attribute attr of name.
	Lsetxattr(ctx context.Context, name, attr string, value []byte) error
	// Llistxattr lists the attribute names of name, sorted.
	Llistxattr(ctx context.Context, name string) ([]string, error)
}

// SymlinkFS is implemented by backends that create symlinks.
type SymlinkFS interface {
	FS
	// Symlink creates name as a symlink to target; the target is stored
	// as given and never resolved. An existing name fails with
	// fs.ErrExist.
	Symlink(ctx context.Context, target, name string) error
}

// Lgetxattr calls fsys.Lgetxattr, or fails with ErrNotSupported when fsys is
// not an XattrFS.
func Lgetxattr(ctx context.Context, fsys FS, name, attr string) ([]byte, error) {
	if x, ok := fsys.(XattrFS); ok {
		return x.Lgetxattr(ctx, name, attr)
	}
	return nil, &fs.PathError{Op: "lgetxattr", Path: name, Err: ErrNotSupported}
}

// Lsetxattr calls fsys.Lsetxattr, or fails with ErrNotSupported when fsys is
// not an XattrFS.
func Lsetxattr(ctx context.Context, fsys FS, name, attr string, value []byte) error {
	if x, ok := fsys.(XattrFS); ok {
		return x.Lsetxattr(ctx, name, attr, value)
	}
	return &fs.PathError{Op: "lsetxattr", Path: name, Err: ErrNotSupported}
}

// Llistxattr calls fsys.Llistxattr, or fails with ErrNotSupported when fsys
// is not an XattrFS.
func Llistxattr(ctx context.Context, fsys FS, name string) ([]string, error) {
	if x, ok := fsys.(XattrFS); ok {
		return x.Llistxattr(ctx, name)
	}
	return nil, &fs.PathError{Op: "llistxattr", Path: name, Err: ErrNotSupported}
}

// Symlink calls fsys.Symlink, or fails with ErrNotSupported when fsys is not
// a SymlinkFS.
func Symlink(ctx context.Context, fsys FS, target, name string) error {
	if s, ok := fsys.(SymlinkFS); ok {
		return s.Symlink(ctx, target, name)
	}
	return &fs.PathError{Op: "symlink", Path: name, Err: ErrNotSupported}
}

// RenameFS is implemented by backends that rename. Rename exists so that a
// guest file or tree can change name without its content, owner, mode or
// labels being copied, and so that a move is one atomic step.
type RenameFS interface {
	FS
	// Rename renames oldname to newname. Both parents are resolved in the
	// root; neither final component is followed, so a symlink is renamed
	// as a link. Rename never replaces: an existing newname, a dangling
	// symlink included, fails with fs.ErrExist. Renaming the root, or a
	// directory into itself or below itself, fails with fs.ErrInvalid;
	// names on different filesystems fail with ErrNotSupported. Errors
	// name oldname, or newname when they are about it (fs.ErrExist, a
	// missing new parent).
	Rename(ctx context.Context, oldname, newname string) error
}

// Rename calls fsys.Rename, or fails with ErrNotSupported when fsys is not
// a RenameFS.
func Rename(ctx context.Context, fsys FS, oldname, newname string) error {
	if r, ok := fsys.(RenameFS); ok {
		return r.Rename(ctx, oldname, newname)
	}
	return &fs.PathError{Op: "rename", Path: oldname, Err: ErrNotSupported}
}

// TimesFS is implemented by backends that set file times, so that copied
// trees keep their modification times and Touch can move them.
type TimesFS interface {
	FS
	// Lchtimes sets the access and modification times of name itself; a
	// final symlink is not followed (its own times change, as with
	// utimensat(AT_SYMLINK_NOFOLLOW)). A zero time leaves that time as it
	// is. Times are kept to the nanosecond where the backend stores them.
	Lchtimes(ctx context.Context, name string, atime, mtime time.Time) error
}

// Lchtimes calls fsys.Lchtimes, or fails with ErrNotSupported when fsys is
// not a TimesFS.
func Lchtimes(ctx context.Context, fsys FS, name string, atime, mtime time.Time) error {
	if t, ok := fsys.(TimesFS); ok {
		return t.Lchtimes(ctx, name, atime, mtime)
	}
	return &fs.PathError{Op: "lchtimes", Path: name, Err: ErrNotSupported}
}

// MaxLstatMany bounds the names of one LstatMany call.
const MaxLstatMany = 64

// LstatManyFS is implemented by backends where every call is a round trip
// to somewhere slow (the appliance's VM): one LstatMany answers the
// Lstats of several names, which a walk down a path or a plan that looks
// at many guest files can ask for together.
type LstatManyFS interface {
	FS
	// LstatMany returns, in order, what Lstat would for each of names, at
	// most MaxLstatMany of them. The error is for the call as a whole (a
	// lost backend, an ended context, too many names); then there are no
	// results.
	LstatMany(ctx context.Context, names []string) ([]LstatResult, error)
}

// LstatResult is what Lstat returned for one name: Info, or Err.
type LstatResult struct {
	Info fs.FileInfo
	Err  error
}

// LstatMany calls fsys.LstatMany, or Lstat for each name when fsys is not
// an LstatManyFS.
func LstatMany(ctx context.Context, fsys FS, names []string) ([]LstatResult, error) {
	if len(names) > MaxLstatMany {
		return nil, &fs.PathError{Op: "lstat", Path: names[0], Err: fmt.Errorf("%w: %d names in one call, at most %d", ErrTooLarge, len(names), MaxLstatMany)}
	}
	if m, ok := fsys.(LstatManyFS); ok {
		return m.LstatMany(ctx, names)
	}
	out := make([]LstatResult, len(names))
	for i, name := range names {
		if err := ctx.Err(); err != nil {
			return nil, &fs.PathError{Op: "lstat", Path: name, Err: err}
		}
		out[i].Info, out[i].Err = fsys.Lstat(ctx, name)
	}
	return out, nil
}
