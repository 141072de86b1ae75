package memfs

import (
	"fmt"
	"io/fs"
	"time"

	"github.com/guestinject/guestinject/vfs"
)

// Node describes one node for Add.
type Node struct {
	// Path is the guest path of the node; see vfs.CheckPath.
	Path string
	// Mode is the type (0 for a regular file, fs.ModeDir, fs.ModeSymlink,
	// fs.ModeNamedPipe, fs.ModeSocket, fs.ModeDevice for a block device,
	// fs.ModeDevice|fs.ModeCharDevice for a character device) with the
	// permission bits and fs.ModeSetuid, fs.ModeSetgid and fs.ModeSticky.
	Mode fs.FileMode
	// UID and GID own the node; negative ids are refused.
	UID, GID int
	// Data is the start of a regular file.
	Data []byte
	// Size is the size of a regular file when larger than Data: the rest
	// is a hole that reads as zeros and costs no memory.
	Size int64
	// Target is the target of a symlink, stored as given.
	Target string
	// Rdev is the device number of a device node, in Linux encoding.
	Rdev uint64
	// Xattrs are the extended attributes of the node.
	Xattrs map[string][]byte
	// ModTime is the modification time; zero means now.
	ModTime time.Time
	// Atime is the access time; zero means ModTime.
	Atime time.Time
}

// Add inserts n into the tree as given, without resolving anything: its
// parent must already be a directory reached by literal names, with no
// symlink on the way, and nothing may exist at n.Path (fs.ErrExist). It
// builds trees, hostile ones included, that the vfs.FS calls would never
// create. Add copies Data and Xattrs.
func (m *FS) Add(n Node) error {
	const op = "add"
	if err := vfs.CheckPath(op, n.Path); err != nil {
		return err
	}
	node, err := newNode(n)
	if err != nil {
		return &fs.PathError{Op: op, Path: n.Path, Err: err}
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed {
		return &fs.PathError{Op: op, Path: n.Path, Err: vfs.ErrClosed}
	}
	if n.Path == "/" {
		return &fs.PathError{Op: op, Path: n.Path, Err: fs.ErrExist}
	}
	dirName, base := vfs.Split(n.Path)
	dir := m.root
	for _, elem := range vfs.Components(dirName) {
		next, ok := dir.children[elem]
		switch {
		case !ok:
			return &fs.PathError{Op: op, Path: n.Path, Err: fs.ErrNotExist}
		case !next.isDir():
			return &fs.PathError{Op: op, Path: n.Path, Err: fmt.Errorf("%w: a %s on the way (Add follows no symlinks)", vfs.ErrNotDir, kindName(next.mode))}
		}
		dir = next
	}
	if old, ok := dir.children[base]; ok {
		return &fs.PathError{Op: op, Path: n.Path, Err: fmt.Errorf("%w: a %s", fs.ErrExist, kindName(old.mode))}
	}
	dir.link(base, node, node.modTime)
	return nil
}

// newNode checks n and makes its inode.
func newNode(n Node) (*inode, error) {
	if n.Mode&^(fs.ModeType|specialBits) != 0 {
		return nil, fmt.Errorf("%w: mode %v has bits other than type, permission and special bits", fs.ErrInvalid, n.Mode)
	}
	typ := n.Mode.Type()
	switch typ {
	case 0, fs.ModeDir, fs.ModeSymlink, fs.ModeNamedPipe, fs.ModeSocket, fs.ModeDevice, fs.ModeDevice | fs.ModeCharDevice:
	default:
		return nil, fmt.Errorf("%w: unsupported file type %v", fs.ErrInvalid, typ)
	}
	switch {
	case n.UID < 0 || n.GID < 0:
		return nil, fmt.Errorf("%w: owner %d:%d", fs.ErrInvalid, n.UID, n.GID)
	case typ != 0 && (len(n.Data) > 0 || n.Size != 0):
		return nil, fmt.Errorf("%w: data or size for a %s", fs.ErrInvalid, kindName(n.Mode))
	case n.Size < 0:
		return nil, fmt.Errorf("%w: size %d", fs.ErrInvalid, n.Size)
	case typ == fs.ModeSymlink && n.Target == "":
		return nil, fmt.Errorf("%w: symlink without a target", fs.ErrInvalid)
	case typ != fs.ModeSymlink && n.Target != "":
		return nil, fmt.Errorf("%w: target for a %s", fs.ErrInvalid, kindName(n.Mode))
	case n.Mode&fs.ModeDevice == 0 && n.Rdev != 0:
		return nil, fmt.Errorf("%w: device number for a %s", fs.ErrInvalid, kindName(n.Mode))
	}
	for attr := range n.Xattrs {
		if attr == "" {
			return nil, fmt.Errorf("%w: empty attribute name", fs.ErrInvalid)
		}
	}
	modTime := n.ModTime
	if modTime.IsZero() {
		modTime = time.Now()
	}
	atime := n.Atime
	if atime.IsZero() {
		atime = modTime
	}
	node := &inode{mode: n.Mode, uid: n.UID, gid: n.GID, modTime: modTime, atime: atime, xattrs: cloneXattrs(n.Xattrs), target: n.Target, rdev: n.Rdev}
	switch typ {
	case fs.ModeDir:
		node.children = map[string]*inode{}
	case 0:
		node.data = newContent(append([]byte(nil), n.Data...), n.Size)
	}
	return node, nil
}
