package inroot

import (
	"context"
	"fmt"
	"io/fs"
	"strings"
	"time"

	"github.com/guestinject/guestinject/internal/unixmode"

	"golang.org/x/sys/unix"

	"github.com/guestinject/guestinject/vfs"
)

// MkdirAll creates name and its missing parents with exactly perm (no
// umask), one component at a time, each resolved in the root. Existing
// directories, also reached through symlinks, are left as they are.
func (r *Root) MkdirAll(ctx context.Context, name string, perm fs.FileMode) error {
	const op = "mkdirall"
	rootfd, err := r.begin(ctx, op, name)
	if err != nil {
		return err
	}
	defer r.release()
	dirfd, err := unix.FcntlInt(uintptr(rootfd), unix.F_DUPFD_CLOEXEC, 0)
	if err != nil {
		return pathErr(op, name, err)
	}
	defer func() { _ = closeFd(dirfd) }()
	prefix := ""
	for _, elem := range vfs.Components(name) {
		if err := ctx.Err(); err != nil {
			return &fs.PathError{Op: op, Path: name, Err: err}
		}
		prefix += "/" + elem
		fd, err := openInRoot(rootfd, prefix, unix.O_PATH|unix.O_DIRECTORY)
		if err == unix.ENOENT {
			fd, err = mkdirExact(dirfd, elem, unixmode.Bits(perm))
			if err == nil {
				r.logChange(ctx, op, prefix, "mode", fs.ModeDir|perm)
			} else if err == unix.EEXIST {
				fd, err = existingDir(rootfd, prefix)
			}
		}
		if err != nil {
			return &fs.PathError{Op: op, Path: name, Err: fmt.Errorf("%s: %w", prefix, mapErrno(err))}
		}
		_ = closeFd(dirfd)
		dirfd = fd
	}
	return nil
}

// mkdirExact creates the directory elem in dirfd with exactly mode and
// returns an O_PATH descriptor of it.
func mkdirExact(dirfd int, elem string, mode uint32) (int, error) {
	// Owner-only until the exact mode is set.
	if err := unix.Mkdirat(dirfd, elem, 0o700); err != nil {
		return -1, err
	}
	fd, err := unix.Openat(dirfd, elem, unix.O_PATH|unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
	if err != nil {
		return -1, err
	}
	if err := chmodFd(fd, mode); err != nil {
		_ = closeFd(fd)
		return -1, err
	}
	return fd, nil
}

// existingDir explains why mkdir found prefix existing: another caller
// made the directory meanwhile (fine), or it is a dangling symlink.
func existingDir(rootfd int, prefix string) (int, error) {
	fd, err := openInRoot(rootfd, prefix, unix.O_PATH|unix.O_DIRECTORY)
	if err == unix.ENOENT {
		return -1, fmt.Errorf("%w: a dangling symlink is in the way", fs.ErrExist)
	}
	return fd, err
}

// Chmod sets the permission and set-id/sticky bits of name. A final
// symlink is refused with vfs.ErrIsSymlink.
func (r *Root) Chmod(ctx context.Context, name string, mode fs.FileMode) error {
	const op = "chmod"
	rootfd, err := r.begin(ctx, op, name)
	if err != nil {
		return err
	}
	defer r.release()
	fd, err := openFinal(rootfd, name)
	if err != nil {
		return pathErr(op, name, err)
	}
	defer closeFd(fd)
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		return pathErr(op, name, err)
	}
	if st.Mode&unix.S_IFMT == unix.S_IFLNK {
		return &fs.PathError{Op: op, Path: name, Err: fmt.Errorf("%w: the final component is never followed", vfs.ErrIsSymlink)}
	}
	if err := chmodFd(fd, unixmode.Bits(mode)); err != nil {
		return pathErr(op, name, err)
	}
	r.logChange(ctx, op, name, "mode", unixmode.Perm(unixmode.Bits(mode)))
	return nil
}

// openFinal returns an O_PATH descriptor of name itself: its parent is
// resolved in the root, a final symlink is not followed.
func openFinal(rootfd int, name string) (int, error) {
	dirfd, base, err := parent(rootfd, name)
	if err != nil || base == "" {
		return dirfd, err
	}
	defer closeFd(dirfd)
	return openNoFollow(dirfd, base)
}

// Lchown sets the owner of name itself; -1 leaves an id unchanged.
func (r *Root) Lchown(ctx context.Context, name string, uid, gid int) error {
	const op = "lchown"
	rootfd, err := r.begin(ctx, op, name)
	if err != nil {
		return err
	}
	defer r.release()
	dirfd, base, err := parent(rootfd, name)
	if err != nil {
		return pathErr(op, name, err)
	}
	defer closeFd(dirfd)
	if base == "" {
		err = unix.Fchownat(dirfd, "", uid, gid, unix.AT_EMPTY_PATH)
	} else {
		err = unix.Fchownat(dirfd, base, uid, gid, unix.AT_SYMLINK_NOFOLLOW)
	}
	if err != nil {
		return pathErr(op, name, err)
	}
	r.logChange(ctx, op, name, "uid", uid, "gid", gid)
	return nil
}

// Remove removes the file, symlink, special node or empty directory name
// itself.
func (r *Root) Remove(ctx context.Context, name string) error {
	const op = "remove"
	rootfd, err := r.begin(ctx, op, name)
	if err != nil {
		return err
	}
	defer r.release()
	if name == "/" {
		return &fs.PathError{Op: op, Path: name, Err: fmt.Errorf("%w: the guest root cannot be removed", fs.ErrPermission)}
	}
	dirfd, base, err := parent(rootfd, name)
	if err != nil {
		return pathErr(op, name, err)
	}
	defer closeFd(dirfd)
	err = unix.Unlinkat(dirfd, base, 0)
	if err == unix.EISDIR {
		err = unix.Unlinkat(dirfd, base, unix.AT_REMOVEDIR)
		if err == unix.EEXIST {
			err = unix.ENOTEMPTY // rmdir(2) allows either
		}
	}
	if err != nil {
		return pathErr(op, name, err)
	}
	r.logChange(ctx, op, name)
	return nil
}

// Symlink creates name as a symlink to target, stored as given. An
// existing name fails with fs.ErrExist.
func (r *Root) Symlink(ctx context.Context, target, name string) error {
	const op = "symlink"
	rootfd, err := r.begin(ctx, op, name)
	if err != nil {
		return err
	}
	defer r.release()
	if target == "" || strings.IndexByte(target, 0) >= 0 || len(target) > vfs.MaxPathLen {
		return &fs.PathError{Op: op, Path: name, Err: fmt.Errorf("%w: symlink target %q", vfs.ErrInvalidPath, target)}
	}
	if name == "/" {
		return &fs.PathError{Op: op, Path: name, Err: fs.ErrExist}
	}
	dirfd, base, err := parent(rootfd, name)
	if err != nil {
		return pathErr(op, name, err)
	}
	defer closeFd(dirfd)
	if err := unix.Symlinkat(target, dirfd, base); err != nil {
		return pathErr(op, name, err)
	}
	r.logChange(ctx, op, name, "target", target)
	return nil
}

// Rename renames oldname to newname, both parents resolved in the root and
// neither final component followed, never replacing (see vfs.RenameFS).
func (r *Root) Rename(ctx context.Context, oldname, newname string) error {
	const op = "rename"
	if err := vfs.CheckPath(op, newname); err != nil {
		return err
	}
	rootfd, err := r.begin(ctx, op, oldname)
	if err != nil {
		return err
	}
	defer r.release()
	if oldname == "/" || newname == "/" {
		return &fs.PathError{Op: op, Path: oldname, Err: fmt.Errorf("%w: the guest root cannot be renamed or replaced", fs.ErrInvalid)}
	}
	odir, obase, err := parent(rootfd, oldname)
	if err != nil {
		return pathErr(op, oldname, err)
	}
	defer closeFd(odir)
	ndir, nbase, err := parent(rootfd, newname)
	if err != nil {
		return pathErr(op, newname, err)
	}
	defer closeFd(ndir)
	if err := renameNoReplace(odir, obase, ndir, nbase); err != nil {
		switch err {
		case unix.EXDEV:
			// Here EXDEV means two mounts, not an escape: both parents
			// were resolved in the root.
			return &fs.PathError{Op: op, Path: oldname, Err: fmt.Errorf("%w: %s and %s are on different filesystems", vfs.ErrNotSupported, oldname, newname)}
		case unix.EINVAL:
			return &fs.PathError{Op: op, Path: oldname, Err: fmt.Errorf("%w: a directory cannot move below itself (or the filesystem cannot rename without replacing)", fs.ErrInvalid)}
		case unix.EEXIST, unix.ENOTEMPTY:
			return &fs.PathError{Op: op, Path: newname, Err: mapErrno(unix.EEXIST)}
		}
		return pathErr(op, oldname, err)
	}
	if !r.noSync {
		_ = syncDir(ndir)
		_ = syncDir(odir)
	}
	r.logChange(ctx, op, oldname, "newname", newname)
	return nil
}

// renameNoReplace moves obase in odir to nbase in ndir unless nbase
// exists. Filesystems without RENAME_NOREPLACE get a hard link and an
// unlink for anything but a directory, which links cannot move.
func renameNoReplace(odir int, obase string, ndir int, nbase string) error {
	err := unix.Renameat2(odir, obase, ndir, nbase, unix.RENAME_NOREPLACE)
	if err != unix.EINVAL {
		return err
	}
	var st unix.Stat_t
	if serr := unix.Fstatat(odir, obase, &st, unix.AT_SYMLINK_NOFOLLOW); serr != nil {
		return serr
	}
	if st.Mode&unix.S_IFMT == unix.S_IFDIR {
		// A directory cannot be hard-linked, so EINVAL stands: a move
		// below itself, or a filesystem without RENAME_NOREPLACE, where a
		// plain rename could replace an empty directory. Both are refused.
		return err
	}
	if err := unix.Linkat(odir, obase, ndir, nbase, 0); err != nil {
		return err
	}
	return unix.Unlinkat(odir, obase, 0)
}

// Lchtimes sets the access and modification times of name itself with
// utimensat(AT_SYMLINK_NOFOLLOW) on the parent resolved in the root; a zero
// time is UTIME_OMIT (see vfs.TimesFS).
func (r *Root) Lchtimes(ctx context.Context, name string, atime, mtime time.Time) error {
	const op = "lchtimes"
	rootfd, err := r.begin(ctx, op, name)
	if err != nil {
		return err
	}
	defer r.release()
	dirfd, base, err := parent(rootfd, name)
	if err != nil {
		return pathErr(op, name, err)
	}
	defer closeFd(dirfd)
	if base == "" {
		base = "." // the root, through its own descriptor
	}
	ts := []unix.Timespec{timespec(atime), timespec(mtime)}
	if err := unix.UtimesNanoAt(dirfd, base, ts, unix.AT_SYMLINK_NOFOLLOW); err != nil {
		return pathErr(op, name, err)
	}
	r.logChange(ctx, op, name, "atime", atime, "mtime", mtime)
	return nil
}

// timespec is t for utimensat, UTIME_OMIT when t is zero. Seconds and
// nanoseconds are taken apart rather than from UnixNano, which overflows
// outside the years 1678 to 2262.
func timespec(t time.Time) unix.Timespec {
	if t.IsZero() {
		return unix.Timespec{Nsec: unix.UTIME_OMIT}
	}
	return unix.Timespec{Sec: t.Unix(), Nsec: int64(t.Nanosecond())}
}
