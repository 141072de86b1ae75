package mount

import (
	"context"
	"io"
	"io/fs"
	"log/slog"
	"time"

	"github.com/guestinject/guestinject/internal/inroot"
	"github.com/guestinject/guestinject/vfs"
)

// DirFS is a guest filesystem over a host directory that is the guest's
// root. It implements vfs.FS, vfs.XattrFS, vfs.SymlinkFS, vfs.RenameFS and
// vfs.TimesFS and is safe for concurrent use. Files it creates belong to the calling process unless
// WriteOptions name an owner; setting other owners, and reading files only
// their owner may read, need the privileges they need on the host.
type DirFS struct {
	root *inroot.Root
}

var (
	_ vfs.FS        = (*DirFS)(nil)
	_ vfs.XattrFS   = (*DirFS)(nil)
	_ vfs.SymlinkFS = (*DirFS)(nil)
	_ vfs.RenameFS  = (*DirFS)(nil)
	_ vfs.TimesFS   = (*DirFS)(nil)
)

// DirOption configures OpenDir. The options that also make sense for the
// image mounts (WithLogger) are OpenOptions too.
type DirOption struct {
	apply inroot.Option
	log   *slog.Logger
}

// WithLogger logs every change the DirFS makes at debug level; given to
// the image mounts, it also logs the session's attach and teardown steps.
func WithLogger(l *slog.Logger) DirOption { return DirOption{apply: inroot.WithLogger(l), log: l} }

func (o DirOption) applyOpen(oo *openOptions) {
	oo.dirOpts = append(oo.dirOpts, o)
	if o.log != nil {
		oo.log = o.log
	}
}

// OpenDir opens the host directory dir as a guest root. dir itself is
// resolved as an ordinary host path; everything below it is resolved
// inside it. procfs must be mounted at /proc.
func OpenDir(dir string, opts ...DirOption) (*DirFS, error) {
	var rootOpts []inroot.Option
	for _, o := range opts {
		rootOpts = append(rootOpts, o.apply)
	}
	r, err := inroot.Open(dir, rootOpts...)
	if err != nil {
		return nil, err
	}
	return &DirFS{root: r}, nil
}

// Dir returns the host directory d was opened on.
func (d *DirFS) Dir() string { return d.root.Dir() }

// Stat implements vfs.FS.
func (d *DirFS) Stat(ctx context.Context, name string) (fs.FileInfo, error) {
	return d.root.Stat(ctx, name)
}

// Lstat implements vfs.FS.
func (d *DirFS) Lstat(ctx context.Context, name string) (fs.FileInfo, error) {
	return d.root.Lstat(ctx, name)
}

// Readlink implements vfs.FS.
func (d *DirFS) Readlink(ctx context.Context, name string) (string, error) {
	return d.root.Readlink(ctx, name)
}

// ReadDir implements vfs.FS.
func (d *DirFS) ReadDir(ctx context.Context, name string) ([]fs.DirEntry, error) {
	return d.root.ReadDir(ctx, name)
}

// Open implements vfs.FS.
func (d *DirFS) Open(ctx context.Context, name string) (vfs.File, error) {
	return d.root.Open(ctx, name)
}

// MkdirAll implements vfs.FS.
func (d *DirFS) MkdirAll(ctx context.Context, name string, perm fs.FileMode) error {
	return d.root.MkdirAll(ctx, name, perm)
}

// WriteFile implements vfs.FS. The temporary file it writes next to name
// is called ".guestinject-<random>.tmp" and is removed on failure.
func (d *DirFS) WriteFile(ctx context.Context, name string, r io.Reader, opts vfs.WriteOptions) error {
	return d.root.WriteFile(ctx, name, r, opts)
}

// Chmod implements vfs.FS.
func (d *DirFS) Chmod(ctx context.Context, name string, mode fs.FileMode) error {
	return d.root.Chmod(ctx, name, mode)
}

// Lchown implements vfs.FS.
func (d *DirFS) Lchown(ctx context.Context, name string, uid, gid int) error {
	return d.root.Lchown(ctx, name, uid, gid)
}

// Remove implements vfs.FS.
func (d *DirFS) Remove(ctx context.Context, name string) error {
	return d.root.Remove(ctx, name)
}

// Lgetxattr implements vfs.XattrFS.
func (d *DirFS) Lgetxattr(ctx context.Context, name, attr string) ([]byte, error) {
	return d.root.Lgetxattr(ctx, name, attr)
}

// Lsetxattr implements vfs.XattrFS. The kernel allows "user." attributes
// only on regular files and directories.
func (d *DirFS) Lsetxattr(ctx context.Context, name, attr string, value []byte) error {
	return d.root.Lsetxattr(ctx, name, attr, value)
}

// Llistxattr implements vfs.XattrFS.
func (d *DirFS) Llistxattr(ctx context.Context, name string) ([]string, error) {
	return d.root.Llistxattr(ctx, name)
}

// Symlink implements vfs.SymlinkFS.
func (d *DirFS) Symlink(ctx context.Context, target, name string) error {
	return d.root.Symlink(ctx, target, name)
}

// Rename implements vfs.RenameFS.
func (d *DirFS) Rename(ctx context.Context, oldname, newname string) error {
	return d.root.Rename(ctx, oldname, newname)
}

// Lchtimes implements vfs.TimesFS.
func (d *DirFS) Lchtimes(ctx context.Context, name string, atime, mtime time.Time) error {
	return d.root.Lchtimes(ctx, name, atime, mtime)
}

// Close implements vfs.FS.
func (d *DirFS) Close() error { return d.root.Close() }
