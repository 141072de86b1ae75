package inroot

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"slices"
	"strings"

	"golang.org/x/sys/unix"

	"github.com/guestinject/guestinject/vfs"
)

// Stat describes the file name refers to, following symlinks in the root.
func (r *Root) Stat(ctx context.Context, name string) (fs.FileInfo, error) {
	rootfd, err := r.begin(ctx, "stat", name)
	if err != nil {
		return nil, err
	}
	defer r.release()
	fd, err := openInRoot(rootfd, name, unix.O_PATH)
	if err != nil {
		return nil, pathErr("stat", name, err)
	}
	defer closeFd(fd)
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		return nil, pathErr("stat", name, err)
	}
	return newInfo(vfs.BaseName(name), &st), nil
}

// Lstat describes name itself, without following a final symlink.
func (r *Root) Lstat(ctx context.Context, name string) (fs.FileInfo, error) {
	rootfd, err := r.begin(ctx, "lstat", name)
	if err != nil {
		return nil, err
	}
	defer r.release()
	st, err := lstat(rootfd, name)
	if err != nil {
		return nil, pathErr("lstat", name, err)
	}
	return newInfo(vfs.BaseName(name), st), nil
}

func lstat(rootfd int, name string) (*unix.Stat_t, error) {
	var st unix.Stat_t
	if name == "/" {
		return &st, unix.Fstat(rootfd, &st)
	}
	dirfd, base, err := parent(rootfd, name)
	if err != nil {
		return nil, err
	}
	defer closeFd(dirfd)
	return &st, unix.Fstatat(dirfd, base, &st, unix.AT_SYMLINK_NOFOLLOW)
}

// Readlink returns the target of the symlink name as stored. Anything but
// a symlink fails with fs.ErrInvalid.
func (r *Root) Readlink(ctx context.Context, name string) (string, error) {
	rootfd, err := r.begin(ctx, "readlink", name)
	if err != nil {
		return "", err
	}
	defer r.release()
	if name == "/" {
		return "", &fs.PathError{Op: "readlink", Path: name, Err: fs.ErrInvalid}
	}
	dirfd, base, err := parent(rootfd, name)
	if err != nil {
		return "", pathErr("readlink", name, err)
	}
	defer closeFd(dirfd)
	for size := 256; ; size *= 2 {
		buf := make([]byte, size)
		n, err := unix.Readlinkat(dirfd, base, buf)
		switch {
		case err == unix.EINVAL:
			return "", &fs.PathError{Op: "readlink", Path: name, Err: fmt.Errorf("%w: not a symlink", fs.ErrInvalid)}
		case err != nil:
			return "", pathErr("readlink", name, err)
		case n < size:
			return string(buf[:n]), nil
		case size > unix.PathMax:
			return "", &fs.PathError{Op: "readlink", Path: name, Err: fmt.Errorf("%w: target too long", vfs.ErrInvalidPath)}
		}
	}
}

// readDirBatch is how many names ReadDir reads between context checks.
const readDirBatch = 512

// ReadDir lists the directory name, following symlinks in the root, sorted
// by name. Each entry describes the entry itself (lstat).
func (r *Root) ReadDir(ctx context.Context, name string) ([]fs.DirEntry, error) {
	rootfd, err := r.begin(ctx, "readdir", name)
	if err != nil {
		return nil, err
	}
	defer r.release()
	// O_DIRECTORY makes the kernel refuse anything else before opening it.
	fd, err := openInRoot(rootfd, name, unix.O_RDONLY|unix.O_DIRECTORY)
	if err != nil {
		return nil, pathErr("readdir", name, err)
	}
	dir := os.NewFile(uintptr(fd), name)
	defer dir.Close()
	var entries []fs.DirEntry
	for {
		if err := ctx.Err(); err != nil {
			return nil, &fs.PathError{Op: "readdir", Path: name, Err: err}
		}
		names, err := dir.Readdirnames(readDirBatch)
		for _, n := range names {
			var st unix.Stat_t
			switch err := unix.Fstatat(fd, n, &st, unix.AT_SYMLINK_NOFOLLOW); {
			case err == unix.ENOENT:
				continue // removed since it was listed
			case err != nil:
				return nil, pathErr("readdir", name, err)
			}
			entries = append(entries, dirEntry{newInfo(n, &st)})
		}
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, pathErr("readdir", name, err)
		}
	}
	slices.SortFunc(entries, func(a, b fs.DirEntry) int { return strings.Compare(a.Name(), b.Name()) })
	return entries, nil
}

// Open opens the regular file name for reading, following symlinks in the
// root. The name is first resolved to an O_PATH descriptor, which opens
// nothing; only when fstat shows a regular file is it reopened for
// reading, so FIFOs and device nodes are never opened.
func (r *Root) Open(ctx context.Context, name string) (vfs.File, error) {
	rootfd, err := r.begin(ctx, "open", name)
	if err != nil {
		return nil, err
	}
	defer r.release()
	pathfd, err := openInRoot(rootfd, name, unix.O_PATH)
	if err != nil {
		return nil, pathErr("open", name, err)
	}
	defer closeFd(pathfd)
	fd, err := reopenRegular(pathfd)
	if err != nil {
		return nil, pathErr("open", name, err)
	}
	return &file{f: os.NewFile(uintptr(fd), name), name: name}, nil
}

// reopenRegular opens the O_PATH descriptor pathfd for reading if it is a
// regular file, and fails with vfs.ErrNotRegular otherwise.
func reopenRegular(pathfd int) (int, error) {
	var before unix.Stat_t
	if err := unix.Fstat(pathfd, &before); err != nil {
		return -1, err
	}
	if before.Mode&unix.S_IFMT != unix.S_IFREG {
		return -1, notRegular(before.Mode)
	}
	fd, err := reopen(pathfd, unix.O_RDONLY)
	if err != nil {
		return -1, err
	}
	var after unix.Stat_t
	if err := unix.Fstat(fd, &after); err != nil || after.Dev != before.Dev || after.Ino != before.Ino {
		_ = closeFd(fd)
		if err == nil {
			err = errors.New("file changed while reopening")
		}
		return -1, err
	}
	return fd, nil
}

// file is a regular file open for reading.
type file struct {
	f    *os.File
	name string
}

func (f *file) Read(p []byte) (int, error) {
	n, err := f.f.Read(p)
	if err != nil && err != io.EOF {
		err = pathErr("read", f.name, err)
	}
	return n, err
}

func (f *file) Stat() (fs.FileInfo, error) {
	conn, err := f.f.SyscallConn()
	if err != nil {
		return nil, pathErr("stat", f.name, err)
	}
	var st unix.Stat_t
	var statErr error
	if err := conn.Control(func(fd uintptr) { statErr = unix.Fstat(int(fd), &st) }); err != nil {
		return nil, pathErr("stat", f.name, err)
	}
	if statErr != nil {
		return nil, pathErr("stat", f.name, statErr)
	}
	return newInfo(vfs.BaseName(f.name), &st), nil
}

func (f *file) Close() error {
	if err := f.f.Close(); err != nil {
		if errors.Is(err, fs.ErrClosed) {
			return &fs.PathError{Op: "close", Path: f.name, Err: fs.ErrClosed}
		}
		return pathErr("close", f.name, err)
	}
	return nil
}
