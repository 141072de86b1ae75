package vfs

import (
	"context"
	"io/fs"
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
