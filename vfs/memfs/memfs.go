package memfs

import (
	"context"
	"fmt"
	"io/fs"
	"sync"
	"time"

	"github.com/guestinject/guestinject/vfs"
)

// FS is an in-memory guest tree. It implements vfs.FS, vfs.XattrFS,
// vfs.SymlinkFS, vfs.RenameFS and vfs.TimesFS and is safe for concurrent
// use.
type FS struct {
	mu     sync.RWMutex
	root   *inode
	closed bool
}

var (
	_ vfs.FS        = (*FS)(nil)
	_ vfs.XattrFS   = (*FS)(nil)
	_ vfs.SymlinkFS = (*FS)(nil)
	_ vfs.RenameFS  = (*FS)(nil)
	_ vfs.TimesFS   = (*FS)(nil)
)

// New returns an empty guest tree: a root directory with mode 0755 owned
// by 0:0.
func New() *FS {
	root := newDir(fs.ModeDir|0o755, 0, 0, time.Now())
	root.parent = root // ".." at the root stays at the root
	return &FS{root: root}
}

// Close releases the tree. Calls after Close fail with vfs.ErrClosed;
// files opened before keep reading.
func (m *FS) Close() error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed {
		return &fs.PathError{Op: "close", Path: "/", Err: vfs.ErrClosed}
	}
	m.closed = true
	return nil
}

// enter does what every call does first: check the name and the context,
// take the lock (exclusive when write is set) and check that m is open. On
// success the caller must call the returned unlock.
func (m *FS) enter(ctx context.Context, op, name string, write bool) (unlock func(), err error) {
	if err := vfs.CheckPath(op, name); err != nil {
		return nil, err
	}
	if err := ctx.Err(); err != nil {
		return nil, &fs.PathError{Op: op, Path: name, Err: err}
	}
	if write {
		m.mu.Lock()
		unlock = m.mu.Unlock
	} else {
		m.mu.RLock()
		unlock = m.mu.RUnlock
	}
	if m.closed {
		unlock()
		return nil, &fs.PathError{Op: op, Path: name, Err: vfs.ErrClosed}
	}
	return unlock, nil
}

// specialBits are the mode bits Chmod, WriteOptions.Perm and Node.Mode
// carry besides the type.
const specialBits = fs.ModePerm | fs.ModeSetuid | fs.ModeSetgid | fs.ModeSticky

// inode is one node of the tree. Every node has exactly one name (there
// are no hard links), so a directory's parent is well defined. The content
// of a regular file is never changed in place: WriteFile puts a new inode
// under the name, and open files keep the old one.
type inode struct {
	mode     fs.FileMode // type, permission and special bits
	uid, gid int
	modTime  time.Time
	// atime is the access time: set at creation and by Lchtimes only,
	// as reads do not move it (a noatime mount).
	atime  time.Time
	xattrs map[string][]byte

	parent   *inode            // of a directory; the root is its own
	children map[string]*inode // of a directory
	data     content           // of a regular file
	target   string            // of a symlink
	rdev     uint64            // of a device node
}

func newDir(mode fs.FileMode, uid, gid int, now time.Time) *inode {
	return &inode{mode: mode, uid: uid, gid: gid, modTime: now, atime: now, children: map[string]*inode{}}
}

func (n *inode) isDir() bool     { return n.mode.IsDir() }
func (n *inode) isSymlink() bool { return n.mode&fs.ModeSymlink != 0 }

// link puts child under name in the directory n.
func (n *inode) link(name string, child *inode, now time.Time) {
	if child.isDir() {
		child.parent = n
	}
	n.children[name] = child
	n.modTime = now
}

// defaultOwner is the owner of a node created in the directory n when the
// caller names none: root, with the directory's group when the directory
// is setgid, as Linux does.
func (n *inode) defaultOwner() (uid, gid int) {
	if n.mode&fs.ModeSetgid != 0 {
		return 0, n.gid
	}
	return 0, 0
}

// info is a snapshot of n under name.
func (n *inode) info(name string) *fileInfo {
	i := &fileInfo{
		name:    name,
		mode:    n.mode,
		modTime: n.modTime,
		attr:    vfs.Attr{UID: n.uid, GID: n.gid, Nlink: 1, Rdev: n.rdev, Atime: n.atime},
	}
	switch {
	case n.mode.IsRegular():
		i.size = n.data.size()
	case n.isSymlink():
		i.size = int64(len(n.target))
	case n.isDir():
		i.attr.Nlink = 2
		for _, c := range n.children {
			if c.isDir() {
				i.attr.Nlink++
			}
		}
	}
	return i
}

// fileInfo describes a node as it was when the snapshot was taken. Sys
// returns a *vfs.Attr.
type fileInfo struct {
	name    string
	size    int64
	mode    fs.FileMode
	modTime time.Time
	attr    vfs.Attr
}

func (i *fileInfo) Name() string       { return i.name }
func (i *fileInfo) Size() int64        { return i.size }
func (i *fileInfo) Mode() fs.FileMode  { return i.mode }
func (i *fileInfo) ModTime() time.Time { return i.modTime }
func (i *fileInfo) IsDir() bool        { return i.mode.IsDir() }
func (i *fileInfo) Sys() any           { a := i.attr; return &a }

// dirEntry is a directory entry describing the entry itself.
type dirEntry struct{ info *fileInfo }

func (d dirEntry) Name() string               { return d.info.name }
func (d dirEntry) IsDir() bool                { return d.info.IsDir() }
func (d dirEntry) Type() fs.FileMode          { return d.info.mode.Type() }
func (d dirEntry) Info() (fs.FileInfo, error) { return d.info, nil }
func (d dirEntry) String() string             { return fs.FormatDirEntry(d) }

// kindName says what a node of mode is, for errors.
func kindName(mode fs.FileMode) string {
	switch t := mode.Type(); t {
	case 0:
		return "regular file"
	case fs.ModeDir:
		return "directory"
	case fs.ModeSymlink:
		return "symlink"
	case fs.ModeNamedPipe:
		return "named pipe"
	case fs.ModeSocket:
		return "socket"
	case fs.ModeDevice | fs.ModeCharDevice:
		return "character device"
	case fs.ModeDevice:
		return "block device"
	default:
		return "file type " + t.String()
	}
}

// notRegular is vfs.ErrNotRegular saying what the node is instead.
func notRegular(n *inode) error {
	return fmt.Errorf("%w: %s", vfs.ErrNotRegular, kindName(n.mode))
}

func cloneXattrs(x map[string][]byte) map[string][]byte {
	if len(x) == 0 {
		return nil
	}
	c := make(map[string][]byte, len(x))
	for k, v := range x {
		c[k] = append([]byte(nil), v...)
	}
	return c
}
