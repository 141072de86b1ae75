package memfs

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"strings"
	"time"

	"github.com/guestinject/guestinject/internal/ctxio"
	"github.com/guestinject/guestinject/vfs"
)

// WriteFile writes the content of r to the regular file name as opts says
// (see vfs.FS). The content is read in full, without holding the tree, and
// only then put in place in one step; nothing changes when anything fails.
func (m *FS) WriteFile(ctx context.Context, name string, r io.Reader, opts vfs.WriteOptions) error {
	const op = "writefile"
	// A first look refuses early what the final step would refuse, before
	// the caller's reader is consumed.
	existing, err := m.writable(ctx, op, name, opts)
	if err != nil {
		return err
	}
	limit := int64(-1)
	if opts.MaxSize > 0 {
		limit = opts.MaxSize
		if opts.Policy == vfs.Append && existing != nil {
			limit -= existing.data.size()
		}
		if limit < 0 {
			return &fs.PathError{Op: op, Path: name, Err: fmt.Errorf("%w: the existing file has %d bytes, limit %d", vfs.ErrTooLarge, existing.data.size(), opts.MaxSize)}
		}
	}
	data, err := readAll(ctx, r, limit)
	if err != nil {
		return &fs.PathError{Op: op, Path: name, Err: err}
	}

	unlock, err := m.enter(ctx, op, name, true)
	if err != nil {
		return err
	}
	defer unlock()
	// The tree may have changed while r was read: look again.
	dir, base, old, err := m.writeTarget(name, opts.Policy)
	if err != nil {
		return &fs.PathError{Op: op, Path: name, Err: err}
	}
	now := time.Now()
	perm := opts.Perm & specialBits
	uid, gid := dir.defaultOwner()
	if opts.UID != -1 {
		uid = opts.UID
	}
	if opts.GID != -1 {
		gid = opts.GID
	}
	n := &inode{mode: perm, uid: uid, gid: gid, modTime: now, atime: now, data: newContent(data, 0)}
	if old != nil && opts.Policy == vfs.Append {
		n.data = old.data.appended(data)
		if opts.MaxSize > 0 && n.data.size() > opts.MaxSize {
			return &fs.PathError{Op: op, Path: name, Err: fmt.Errorf("%w: %d bytes, limit %d", vfs.ErrTooLarge, n.data.size(), opts.MaxSize)}
		}
	}
	if old != nil && opts.Inherit {
		n.mode, n.uid, n.gid, n.xattrs = old.mode, old.uid, old.gid, cloneXattrs(old.xattrs)
	}
	dir.link(base, n, now)
	return nil
}

// writable is the first look of WriteFile: the existing regular file name
// (nil if none) or the reason it may not be written.
func (m *FS) writable(ctx context.Context, op, name string, opts vfs.WriteOptions) (*inode, error) {
	unlock, err := m.enter(ctx, op, name, false)
	if err != nil {
		return nil, err
	}
	defer unlock()
	switch {
	case opts.Policy < vfs.Replace || opts.Policy > vfs.Exclusive:
		return nil, &fs.PathError{Op: op, Path: name, Err: fmt.Errorf("%w: write policy %v", vfs.ErrNotSupported, opts.Policy)}
	case opts.UID < -1 || opts.GID < -1:
		return nil, &fs.PathError{Op: op, Path: name, Err: fmt.Errorf("%w: owner %d:%d", fs.ErrInvalid, opts.UID, opts.GID)}
	}
	_, _, old, err := m.writeTarget(name, opts.Policy)
	if err != nil {
		return nil, &fs.PathError{Op: op, Path: name, Err: err}
	}
	return old, nil
}

// writeTarget resolves the directory WriteFile puts name in and returns it
// with the final component and the regular file there now, if any. A
// final symlink is never followed.
func (m *FS) writeTarget(name string, policy vfs.WritePolicy) (dir *inode, base string, old *inode, err error) {
	if name == "/" {
		if policy == vfs.Exclusive {
			return nil, "", nil, fs.ErrExist
		}
		return nil, "", nil, vfs.ErrIsDir
	}
	dir, base, err = m.parentDir(name)
	if err != nil {
		return nil, "", nil, err
	}
	old = dir.children[base]
	switch {
	case old == nil:
	case policy == vfs.Exclusive:
		return nil, "", nil, fmt.Errorf("%w: a %s", fs.ErrExist, kindName(old.mode))
	case old.isSymlink():
		return nil, "", nil, fmt.Errorf("%w: the final component is never followed", vfs.ErrIsSymlink)
	case old.isDir():
		return nil, "", nil, vfs.ErrIsDir
	case !old.mode.IsRegular():
		return nil, "", nil, notRegular(old)
	}
	return dir, base, old, nil
}

// readAll reads r to the end, or fails with vfs.ErrTooLarge once it yields
// more than limit bytes (no bound when limit is negative).
func readAll(ctx context.Context, r io.Reader, limit int64) ([]byte, error) {
	src := ctxio.Reader(ctx, r)
	if limit >= 0 {
		src = io.LimitReader(src, limit+1)
	}
	data, err := io.ReadAll(src)
	switch {
	case errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
		return nil, err
	case err != nil:
		return nil, fmt.Errorf("reading the new content: %w", err)
	case limit >= 0 && int64(len(data)) > limit:
		return nil, fmt.Errorf("%w: more than %d bytes", vfs.ErrTooLarge, limit)
	}
	return data, nil
}

// MkdirAll creates name and its missing parents with exactly perm, each
// component resolved in the root. Existing directories, also reached
// through symlinks, are left as they are.
func (m *FS) MkdirAll(ctx context.Context, name string, perm fs.FileMode) error {
	const op = "mkdirall"
	unlock, err := m.enter(ctx, op, name, true)
	if err != nil {
		return err
	}
	defer unlock()
	dir := m.root
	prefix := ""
	for _, elem := range vfs.Components(name) {
		prefix += "/" + elem
		next, err := m.resolve(prefix, true)
		switch {
		case errors.Is(err, fs.ErrNotExist) && dir.children[elem] != nil:
			// Only a symlink can be there and lead nowhere; creating its
			// target is not MkdirAll's business.
			err = fmt.Errorf("%w: a dangling symlink is in the way", fs.ErrExist)
		case errors.Is(err, fs.ErrNotExist):
			now := time.Now()
			uid, gid := dir.defaultOwner()
			next, err = newDir(fs.ModeDir|perm&specialBits, uid, gid, now), nil
			dir.link(elem, next, now)
		case err == nil && !next.isDir():
			err = fmt.Errorf("%w: a %s", vfs.ErrNotDir, kindName(next.mode))
		}
		if err != nil {
			return &fs.PathError{Op: op, Path: name, Err: fmt.Errorf("%s: %w", prefix, err)}
		}
		dir = next
	}
	return nil
}

// Chmod sets the permission and special bits of name. A final symlink is
// refused with vfs.ErrIsSymlink.
func (m *FS) Chmod(ctx context.Context, name string, mode fs.FileMode) error {
	const op = "chmod"
	unlock, err := m.enter(ctx, op, name, true)
	if err != nil {
		return err
	}
	defer unlock()
	n, err := m.final(name)
	if err != nil {
		return &fs.PathError{Op: op, Path: name, Err: err}
	}
	if n.isSymlink() {
		return &fs.PathError{Op: op, Path: name, Err: fmt.Errorf("%w: the final component is never followed", vfs.ErrIsSymlink)}
	}
	n.mode = n.mode.Type() | mode&specialBits
	return nil
}

// Lchown sets the owner of name itself; -1 leaves an id unchanged. Like
// chown on Linux it clears the set-id bits of a non-directory, so callers
// set modes after owners.
func (m *FS) Lchown(ctx context.Context, name string, uid, gid int) error {
	const op = "lchown"
	unlock, err := m.enter(ctx, op, name, true)
	if err != nil {
		return err
	}
	defer unlock()
	if uid < -1 || gid < -1 {
		return &fs.PathError{Op: op, Path: name, Err: fmt.Errorf("%w: owner %d:%d", fs.ErrInvalid, uid, gid)}
	}
	n, err := m.final(name)
	if err != nil {
		return &fs.PathError{Op: op, Path: name, Err: err}
	}
	if uid != -1 {
		n.uid = uid
	}
	if gid != -1 {
		n.gid = gid
	}
	if !n.isDir() {
		// As Linux does for any chown of a non-directory, even by root and
		// to the same owner: setuid goes, and setgid when the group may
		// execute (otherwise it marks mandatory locking, not privilege).
		n.mode &^= fs.ModeSetuid
		if n.mode&0o010 != 0 {
			n.mode &^= fs.ModeSetgid
		}
	}
	return nil
}

// Remove removes the file, symlink, special node or empty directory name
// itself.
func (m *FS) Remove(ctx context.Context, name string) error {
	const op = "remove"
	unlock, err := m.enter(ctx, op, name, true)
	if err != nil {
		return err
	}
	defer unlock()
	if name == "/" {
		return &fs.PathError{Op: op, Path: name, Err: fmt.Errorf("%w: the guest root cannot be removed", fs.ErrPermission)}
	}
	dir, base, err := m.parentDir(name)
	if err != nil {
		return &fs.PathError{Op: op, Path: name, Err: err}
	}
	n, ok := dir.children[base]
	switch {
	case !ok:
		return &fs.PathError{Op: op, Path: name, Err: fs.ErrNotExist}
	case n.isDir() && len(n.children) > 0:
		return &fs.PathError{Op: op, Path: name, Err: vfs.ErrNotEmpty}
	}
	delete(dir.children, base)
	dir.modTime = time.Now()
	return nil
}

// Symlink creates name as a symlink to target, stored as given. An
// existing name fails with fs.ErrExist.
func (m *FS) Symlink(ctx context.Context, target, name string) error {
	const op = "symlink"
	unlock, err := m.enter(ctx, op, name, true)
	if err != nil {
		return err
	}
	defer unlock()
	if target == "" || strings.IndexByte(target, 0) >= 0 || len(target) > vfs.MaxPathLen {
		return &fs.PathError{Op: op, Path: name, Err: fmt.Errorf("%w: symlink target %q", vfs.ErrInvalidPath, target)}
	}
	if name == "/" {
		return &fs.PathError{Op: op, Path: name, Err: fs.ErrExist}
	}
	dir, base, err := m.parentDir(name)
	if err != nil {
		return &fs.PathError{Op: op, Path: name, Err: err}
	}
	if old, ok := dir.children[base]; ok {
		return &fs.PathError{Op: op, Path: name, Err: fmt.Errorf("%w: a %s", fs.ErrExist, kindName(old.mode))}
	}
	now := time.Now()
	uid, gid := dir.defaultOwner()
	dir.link(base, &inode{mode: fs.ModeSymlink | 0o777, uid: uid, gid: gid, modTime: now, atime: now, target: target}, now)
	return nil
}

// Rename renames oldname to newname without following either final
// component and without replacing anything (see vfs.RenameFS).
func (m *FS) Rename(ctx context.Context, oldname, newname string) error {
	const op = "rename"
	if err := vfs.CheckPath(op, newname); err != nil {
		return err
	}
	unlock, err := m.enter(ctx, op, oldname, true)
	if err != nil {
		return err
	}
	defer unlock()
	if oldname == "/" || newname == "/" {
		return &fs.PathError{Op: op, Path: oldname, Err: fmt.Errorf("%w: the guest root cannot be renamed or replaced", fs.ErrInvalid)}
	}
	odir, obase, err := m.parentDir(oldname)
	if err != nil {
		return &fs.PathError{Op: op, Path: oldname, Err: err}
	}
	n, ok := odir.children[obase]
	if !ok {
		return &fs.PathError{Op: op, Path: oldname, Err: fs.ErrNotExist}
	}
	ndir, nbase, err := m.parentDir(newname)
	if err != nil {
		return &fs.PathError{Op: op, Path: newname, Err: err}
	}
	if old, ok := ndir.children[nbase]; ok {
		return &fs.PathError{Op: op, Path: newname, Err: fmt.Errorf("%w: a %s", fs.ErrExist, kindName(old.mode))}
	}
	if n.isDir() {
		// The new parent must not be n or below it, or the tree would
		// hang from itself.
		for d := ndir; ; d = d.parent {
			if d == n {
				return &fs.PathError{Op: op, Path: oldname, Err: fmt.Errorf("%w: a directory cannot move below itself", fs.ErrInvalid)}
			}
			if d == m.root {
				break
			}
		}
	}
	now := time.Now()
	delete(odir.children, obase)
	odir.modTime = now
	ndir.link(nbase, n, now)
	return nil
}

// Lchtimes sets the access and modification times of name itself, to the
// nanosecond; a zero time leaves that time as it is (see vfs.TimesFS).
func (m *FS) Lchtimes(ctx context.Context, name string, atime, mtime time.Time) error {
	const op = "lchtimes"
	unlock, err := m.enter(ctx, op, name, true)
	if err != nil {
		return err
	}
	defer unlock()
	n, err := m.final(name)
	if err != nil {
		return &fs.PathError{Op: op, Path: name, Err: err}
	}
	// Round(0) drops a monotonic clock reading, which means nothing in a
	// stored time.
	if !atime.IsZero() {
		n.atime = atime.Round(0)
	}
	if !mtime.IsZero() {
		n.modTime = mtime.Round(0)
	}
	return nil
}
