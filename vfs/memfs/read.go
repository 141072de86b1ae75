package memfs

import (
	"context"
	"fmt"
	"io"
	"io/fs"
	"slices"
	"strings"

	"github.com/guestinject/guestinject/vfs"
)

// Stat describes the node name refers to, following symlinks in the root.
func (m *FS) Stat(ctx context.Context, name string) (fs.FileInfo, error) {
	unlock, err := m.enter(ctx, "stat", name, false)
	if err != nil {
		return nil, err
	}
	defer unlock()
	n, err := m.resolve(name, true)
	if err != nil {
		return nil, &fs.PathError{Op: "stat", Path: name, Err: err}
	}
	return n.info(vfs.BaseName(name)), nil
}

// Lstat describes name itself; a final symlink is not followed.
func (m *FS) Lstat(ctx context.Context, name string) (fs.FileInfo, error) {
	unlock, err := m.enter(ctx, "lstat", name, false)
	if err != nil {
		return nil, err
	}
	defer unlock()
	n, err := m.final(name)
	if err != nil {
		return nil, &fs.PathError{Op: "lstat", Path: name, Err: err}
	}
	return n.info(vfs.BaseName(name)), nil
}

// Readlink returns the target of the symlink name as stored. Anything but
// a symlink fails with fs.ErrInvalid.
func (m *FS) Readlink(ctx context.Context, name string) (string, error) {
	unlock, err := m.enter(ctx, "readlink", name, false)
	if err != nil {
		return "", err
	}
	defer unlock()
	n, err := m.final(name)
	if err != nil {
		return "", &fs.PathError{Op: "readlink", Path: name, Err: err}
	}
	if !n.isSymlink() {
		return "", &fs.PathError{Op: "readlink", Path: name, Err: fmt.Errorf("%w: not a symlink but a %s", fs.ErrInvalid, kindName(n.mode))}
	}
	return n.target, nil
}

// ReadDir lists the directory name, following symlinks in the root, sorted
// by name. Each entry describes the entry itself.
func (m *FS) ReadDir(ctx context.Context, name string) ([]fs.DirEntry, error) {
	unlock, err := m.enter(ctx, "readdir", name, false)
	if err != nil {
		return nil, err
	}
	defer unlock()
	n, err := m.resolve(name, true)
	if err != nil {
		return nil, &fs.PathError{Op: "readdir", Path: name, Err: err}
	}
	if !n.isDir() {
		return nil, &fs.PathError{Op: "readdir", Path: name, Err: fmt.Errorf("%w: a %s", vfs.ErrNotDir, kindName(n.mode))}
	}
	entries := make([]fs.DirEntry, 0, len(n.children))
	for childName, child := range n.children {
		entries = append(entries, dirEntry{child.info(childName)})
	}
	slices.SortFunc(entries, func(a, b fs.DirEntry) int { return strings.Compare(a.Name(), b.Name()) })
	return entries, nil
}

// Open opens the regular file name for reading, following symlinks in the
// root. Anything else fails with vfs.ErrNotRegular. The file reads the
// content name had when it was opened.
func (m *FS) Open(ctx context.Context, name string) (vfs.File, error) {
	unlock, err := m.enter(ctx, "open", name, false)
	if err != nil {
		return nil, err
	}
	defer unlock()
	n, err := m.resolve(name, true)
	if err != nil {
		return nil, &fs.PathError{Op: "open", Path: name, Err: err}
	}
	if !n.mode.IsRegular() {
		return nil, &fs.PathError{Op: "open", Path: name, Err: notRegular(n)}
	}
	return &file{fsys: m, node: n, name: name, size: n.data.size()}, nil
}

// file is a regular file open for reading. Like an *os.File it is not
// meant for concurrent Reads.
type file struct {
	fsys   *FS
	node   *inode // its content never changes
	name   string
	size   int64
	off    int64
	closed bool
}

func (f *file) Read(p []byte) (int, error) {
	if f.closed {
		return 0, &fs.PathError{Op: "read", Path: f.name, Err: fs.ErrClosed}
	}
	if f.off >= f.size {
		return 0, io.EOF
	}
	if rest := f.size - f.off; int64(len(p)) > rest {
		p = p[:rest]
	}
	n := f.node.data.readAt(p, f.off)
	f.off += int64(n)
	return n, nil
}

// Stat describes the open file as it is now; mode and owner may have
// changed since Open, the content has not.
func (f *file) Stat() (fs.FileInfo, error) {
	if f.closed {
		return nil, &fs.PathError{Op: "stat", Path: f.name, Err: fs.ErrClosed}
	}
	f.fsys.mu.RLock()
	defer f.fsys.mu.RUnlock()
	return f.node.info(vfs.BaseName(f.name)), nil
}

func (f *file) Close() error {
	if f.closed {
		return &fs.PathError{Op: "close", Path: f.name, Err: fs.ErrClosed}
	}
	f.closed = true
	return nil
}
