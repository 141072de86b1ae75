package vfs

//go:generate go tool mockgen -typed -destination=vfsmock/vfsmock.go -package=vfsmock -mock_names=FS=FS,XattrFS=XattrFS,SymlinkFS=SymlinkFS,TimesFS=TimesFS . FS,XattrFS,SymlinkFS,TimesFS

import (
	"context"
	"io"
	"io/fs"
)

// FS is a guest filesystem. All names are guest paths (see CheckPath) and are
// resolved inside the guest root (see the package documentation).
// Implementations are safe for concurrent use.
type FS interface {
	// Stat describes the file name refers to, following a final symlink.
	Stat(ctx context.Context, name string) (fs.FileInfo, error)
	// Lstat describes name itself; a final symlink is not followed.
	Lstat(ctx context.Context, name string) (fs.FileInfo, error)
	// Readlink returns the target of the symlink name, unresolved.
	// Anything but a symlink fails with fs.ErrInvalid.
	Readlink(ctx context.Context, name string) (string, error)
	// ReadDir lists the directory name sorted by entry name. Entry types
	// are those of the entries themselves (a symlink is reported as one).
	ReadDir(ctx context.Context, name string) ([]fs.DirEntry, error)
	// Open opens the regular file name for reading, following symlinks in
	// the root. Anything but a regular file, directories included, fails
	// with ErrNotRegular without being opened.
	Open(ctx context.Context, name string) (File, error)
	// MkdirAll creates name and any missing parents with exactly mode perm
	// (no umask) owned by the backend's default owner. Existing
	// directories, also reached through symlinks in the root, are left as
	// they are; a dangling symlink in the way fails with fs.ErrExist and
	// its target is not created.
	MkdirAll(ctx context.Context, name string, perm fs.FileMode) error
	// WriteFile atomically writes the content read from r to the regular
	// file name, as opts says. The parent directory must exist. A final
	// symlink is refused with ErrIsSymlink, a directory with ErrIsDir and
	// any other non-regular file with ErrNotRegular.
	WriteFile(ctx context.Context, name string, r io.Reader, opts WriteOptions) error
	// Chmod sets the permission bits and the setuid, setgid and sticky bits
	// of name. A final symlink is refused with ErrIsSymlink.
	Chmod(ctx context.Context, name string, mode fs.FileMode) error
	// Lchown sets the owner of name itself; -1 leaves an id unchanged.
	Lchown(ctx context.Context, name string, uid, gid int) error
	// Remove removes the file, symlink, special node or empty directory
	// name. A non-empty directory fails with ErrNotEmpty.
	Remove(ctx context.Context, name string) error
	// Close releases the backend. Calls after Close fail with ErrClosed.
	Close() error
}

// File is a regular file opened for reading.
type File = fs.File

// WritePolicy says what WriteFile does with an existing file.
type WritePolicy int

const (
	// Replace creates the file or replaces an existing one.
	Replace WritePolicy = iota
	// Append creates the file or adds the content to the end of an
	// existing one; the result replaces the old file atomically.
	Append
	// Exclusive creates the file and fails with fs.ErrExist if anything
	// exists under the name, including a dangling symlink.
	Exclusive
)

func (p WritePolicy) String() string {
	switch p {
	case Replace:
		return "replace"
	case Append:
		return "append"
	case Exclusive:
		return "exclusive"
	}
	return "WritePolicy(invalid)"
}

// WriteOptions says how WriteFile writes. The zero value replaces the file
// with mode 0 owned by root; callers normally set Perm.
type WriteOptions struct {
	Policy WritePolicy
	// Perm is the mode of a file the call creates: permission bits plus
	// optionally fs.ModeSetuid, fs.ModeSetgid and fs.ModeSticky. It is set
	// exactly, without a umask.
	Perm fs.FileMode
	// UID and GID own a file the call creates; -1 leaves the backend's
	// default owner: the writing process, and for the group, as on Linux,
	// the directory's group when the directory is setgid.
	UID, GID int
	// Inherit makes a file that replaces or extends an existing one keep
	// the existing file's mode, owner and extended attributes (such as its
	// SELinux label) instead of taking Perm, UID and GID.
	Inherit bool
	// MaxSize bounds the bytes taken from r (and, for Append, the size of
	// the result); 0 means no bound. Exceeding it fails with ErrTooLarge
	// and changes nothing.
	MaxSize int64
}
