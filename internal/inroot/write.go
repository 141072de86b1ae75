package inroot

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"

	"github.com/guestinject/guestinject/internal/unixmode"

	"golang.org/x/sys/unix"

	"github.com/guestinject/guestinject/internal/ctxio"
	"github.com/guestinject/guestinject/vfs"
)

// TempPrefix starts the name of every temporary file WriteFile creates,
// so that one left by a crash can be recognised.
const TempPrefix = ".guestinject-"

// WriteFile atomically writes the content of rd to the regular file name
// as opts says (see vfs.FS and the package documentation).
func (r *Root) WriteFile(ctx context.Context, name string, rd io.Reader, opts vfs.WriteOptions) error {
	const op = "writefile"
	rootfd, err := r.begin(ctx, op, name)
	if err != nil {
		return err
	}
	defer r.release()
	switch {
	case opts.Policy < vfs.Replace || opts.Policy > vfs.Exclusive:
		return &fs.PathError{Op: op, Path: name, Err: fmt.Errorf("%w: %v", vfs.ErrNotSupported, opts.Policy)}
	case name == "/" && opts.Policy == vfs.Exclusive:
		return &fs.PathError{Op: op, Path: name, Err: fs.ErrExist}
	case name == "/":
		return &fs.PathError{Op: op, Path: name, Err: vfs.ErrIsDir}
	}
	dirfd, base, err := parent(rootfd, name)
	if err != nil {
		return pathErr(op, name, err)
	}
	defer closeFd(dirfd)
	old, err := existingRegular(dirfd, base, opts.Policy)
	if err != nil {
		return pathErr(op, name, err)
	}
	if old != nil {
		defer closeFd(old.fd)
		if opts.Policy == vfs.Append && opts.MaxSize > 0 && old.st.Size > opts.MaxSize {
			return &fs.PathError{Op: op, Path: name, Err: fmt.Errorf("%w: the existing file has %d bytes, limit %d", vfs.ErrTooLarge, old.st.Size, opts.MaxSize)}
		}
	}
	w := &tempWriter{ctx: ctx, dirfd: dirfd, limit: opts.MaxSize, sync: !r.noSync}
	if err := w.create(); err != nil {
		return pathErr(op, name, err)
	}
	defer w.discard()
	if opts.Policy == vfs.Append && old != nil {
		if err := w.appendFile(old.fd); err != nil {
			return pathErr(op, name, err)
		}
	}
	if err := w.copyFrom(rd); err != nil {
		return w.errFor(op, name, err)
	}
	uid, gid, mode := opts.UID, opts.GID, unixmode.Bits(opts.Perm)
	if opts.Inherit && old != nil {
		uid, gid, mode = int(old.st.Uid), int(old.st.Gid), old.st.Mode&^unix.S_IFMT
	}
	if err := w.chown(uid, gid); err != nil {
		return pathErr(op, name, err)
	}
	if opts.Inherit && old != nil {
		if err := copyXattrs(old.fd, w.fd()); err != nil {
			return pathErr(op, name, err)
		}
	}
	// After chown, which clears the set-id bits.
	if err := unix.Fchmod(w.fd(), mode); err != nil {
		return pathErr(op, name, err)
	}
	if err := w.commit(base, opts.Policy == vfs.Exclusive); err != nil {
		return pathErr(op, name, err)
	}
	r.logChange(ctx, op, name, "policy", opts.Policy, "size", w.written, "mode", unixmode.Perm(mode), "uid", uid, "gid", gid)
	return nil
}

// regularFile is an O_PATH descriptor of an existing regular file with its
// stat data.
type regularFile struct {
	fd int
	st unix.Stat_t
}

// existingRegular returns the regular file base in dirfd, nil if there is
// none, or the reason it may not be replaced: anything but a regular file.
// For Exclusive it looks at nothing: the final rename refuses to replace,
// atomically, so size limits are checked before existence.
func existingRegular(dirfd int, base string, policy vfs.WritePolicy) (*regularFile, error) {
	if policy == vfs.Exclusive {
		return nil, nil
	}
	fd, err := openNoFollow(dirfd, base)
	if err == unix.ENOENT {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	f := &regularFile{fd: fd}
	if err := unix.Fstat(fd, &f.st); err != nil {
		_ = closeFd(fd)
		return nil, err
	}
	switch t := f.st.Mode & unix.S_IFMT; {
	case t == unix.S_IFLNK:
		err = fmt.Errorf("%w: the final component is never followed", vfs.ErrIsSymlink)
	case t == unix.S_IFDIR:
		err = vfs.ErrIsDir
	case t != unix.S_IFREG:
		err = notRegular(f.st.Mode)
	}
	if err != nil {
		_ = closeFd(fd)
		return nil, err
	}
	return f, nil
}

// tempWriter is the temporary file that becomes the written file.
type tempWriter struct {
	ctx     context.Context // of the WriteFile call this writer lives in
	dirfd   int
	limit   int64 // of written bytes; 0 means none
	name    string
	f       *os.File
	written int64
	// writeErr is the last error writing the temporary file, to tell it
	// from an error of the source.
	writeErr error
	// done is set once the temporary has been renamed into place.
	done bool
	// sync makes commit sync the file and its directory.
	sync bool
}

func (w *tempWriter) fd() int { return int(w.f.Fd()) }

func (w *tempWriter) create() error {
	for range 16 {
		var random [8]byte
		_, _ = rand.Read(random[:]) // never fails on Linux
		name := TempPrefix + hex.EncodeToString(random[:]) + ".tmp"
		fd, err := unix.Openat(w.dirfd, name, unix.O_WRONLY|unix.O_CREAT|unix.O_EXCL|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0o600)
		if err == unix.EEXIST || err == unix.EINTR {
			continue
		}
		if err != nil {
			return err
		}
		w.name, w.f = name, os.NewFile(uintptr(fd), name)
		return nil
	}
	return errors.New("no free temporary file name")
}

// discard removes the temporary file unless it was committed.
func (w *tempWriter) discard() {
	if w.f != nil {
		_ = w.f.Close()
	}
	if !w.done && w.name != "" {
		_ = unix.Unlinkat(w.dirfd, w.name, 0)
	}
}

func (w *tempWriter) Write(p []byte) (int, error) {
	n, err := w.f.Write(p)
	w.written += int64(n)
	if err != nil {
		w.writeErr = err
	}
	return n, err
}

// copyFrom copies src to the temporary file within the size limit.
func (w *tempWriter) copyFrom(src io.Reader) error {
	src = ctxio.Reader(w.ctx, src)
	if w.limit > 0 {
		src = &io.LimitedReader{R: src, N: w.limit - w.written + 1}
	}
	if _, err := io.Copy(w, src); err != nil {
		return err
	}
	if w.limit > 0 && w.written > w.limit {
		return fmt.Errorf("%w: more than %d bytes", vfs.ErrTooLarge, w.limit)
	}
	return nil
}

// appendFile copies the existing regular file behind pathfd first.
func (w *tempWriter) appendFile(pathfd int) error {
	fd, err := reopenRegular(pathfd)
	if err != nil {
		return err
	}
	old := os.NewFile(uintptr(fd), "old")
	defer old.Close()
	err = w.copyFrom(old)
	var pe *fs.PathError
	if errors.As(err, &pe) && w.writeErr == nil {
		return fmt.Errorf("reading the existing file: %w", mapErrno(pe.Err))
	}
	return err
}

// errFor describes an error of copyFrom for op on name.
func (w *tempWriter) errFor(op, name string, err error) error {
	switch {
	case w.writeErr != nil:
		return pathErr(op, name, w.writeErr)
	case errors.Is(err, vfs.ErrTooLarge), errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
		return &fs.PathError{Op: op, Path: name, Err: err}
	}
	return &fs.PathError{Op: op, Path: name, Err: fmt.Errorf("reading the new content: %w", err)}
}

// chown gives the temporary file its owner; -1 keeps the process's id. It
// skips the call when nothing changes, so unprivileged writes work.
func (w *tempWriter) chown(uid, gid int) error {
	var st unix.Stat_t
	if err := unix.Fstat(w.fd(), &st); err != nil {
		return err
	}
	if (uid == -1 || uid == int(st.Uid)) && (gid == -1 || gid == int(st.Gid)) {
		return nil
	}
	return unix.Fchown(w.fd(), uid, gid)
}

// commit moves the temporary file to base, replacing what is there unless
// exclusive; when w.sync is set, it syncs the file before and the
// directory after.
func (w *tempWriter) commit(base string, exclusive bool) error {
	if w.sync {
		if err := w.f.Sync(); err != nil {
			return err
		}
	}
	if err := w.f.Close(); err != nil {
		return err
	}
	w.f = nil
	if err := w.ctx.Err(); err != nil {
		return err
	}
	if exclusive {
		if err := w.linkNoReplace(base); err != nil {
			return err
		}
	} else if err := unix.Renameat(w.dirfd, w.name, w.dirfd, base); err != nil {
		return err
	}
	w.done = true
	if !w.sync {
		return nil
	}
	return syncDir(w.dirfd)
}

// linkNoReplace puts the temporary file at base only if nothing is there.
func (w *tempWriter) linkNoReplace(base string) error {
	err := unix.Renameat2(w.dirfd, w.name, w.dirfd, base, unix.RENAME_NOREPLACE)
	if err != unix.EINVAL {
		return err
	}
	// The filesystem lacks RENAME_NOREPLACE; a hard link never replaces.
	return linkThenUnlink(w.dirfd, w.name, base)
}

// linkThenUnlink moves tmp to base in dirfd unless base exists.
func linkThenUnlink(dirfd int, tmp, base string) error {
	if err := unix.Linkat(dirfd, tmp, dirfd, base, 0); err != nil {
		return err
	}
	return unix.Unlinkat(dirfd, tmp, 0)
}

// syncDir makes a rename in the directory dirfd durable.
func syncDir(dirfd int) error {
	fd, err := unix.Openat(dirfd, ".", unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err == unix.EACCES {
		return nil // an unreadable directory cannot be opened to sync
	}
	if err != nil {
		return err
	}
	defer closeFd(fd)
	if err := unix.Fsync(fd); err != nil && err != unix.EINVAL {
		return err
	}
	return nil
}
