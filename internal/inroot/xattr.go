package inroot

import (
	"context"
	"fmt"
	"io/fs"
	"slices"
	"strings"

	"golang.org/x/sys/unix"
)

// Extended attributes are reached through "/proc/self/fd/<parent>/<name>"
// with the l*xattr calls: the parent directory is pinned by its descriptor
// (resolved in the root) and the final name is never followed, so a
// symlink's own attributes are read and set, never its target's. For the
// root itself the path ends in "/.".

// xattrPath returns the procfs path of name for the l*xattr calls and the
// parent descriptor it relies on, which the caller closes.
func xattrPath(rootfd int, name string) (path string, dirfd int, err error) {
	dirfd, base, err := parent(rootfd, name)
	if err != nil {
		return "", -1, err
	}
	if base == "" {
		base = "."
	}
	return procPath(dirfd) + "/" + base, dirfd, nil
}

// Lgetxattr returns the value of attribute attr of name itself. A missing
// attribute fails with fs.ErrNotExist.
func (r *Root) Lgetxattr(ctx context.Context, name, attr string) ([]byte, error) {
	const op = "lgetxattr"
	rootfd, err := r.begin(ctx, op, name)
	if err != nil {
		return nil, err
	}
	defer r.release()
	path, dirfd, err := xattrPath(rootfd, name)
	if err != nil {
		return nil, pathErr(op, name, err)
	}
	defer closeFd(dirfd)
	value, err := getxattr(path, attr, unix.Lgetxattr)
	if err != nil {
		return nil, xattrErr(op, name, attr, err)
	}
	return value, nil
}

// Lsetxattr creates or replaces attribute attr of name itself. The kernel
// allows "user." attributes only on regular files and directories; others
// fail with fs.ErrPermission.
func (r *Root) Lsetxattr(ctx context.Context, name, attr string, value []byte) error {
	const op = "lsetxattr"
	rootfd, err := r.begin(ctx, op, name)
	if err != nil {
		return err
	}
	defer r.release()
	path, dirfd, err := xattrPath(rootfd, name)
	if err != nil {
		return pathErr(op, name, err)
	}
	defer closeFd(dirfd)
	if err := unix.Lsetxattr(path, attr, value, 0); err != nil {
		return xattrErr(op, name, attr, err)
	}
	r.logChange(ctx, op, name, "attr", attr, "size", len(value))
	return nil
}

// Llistxattr lists the attribute names of name itself, sorted.
func (r *Root) Llistxattr(ctx context.Context, name string) ([]string, error) {
	const op = "llistxattr"
	rootfd, err := r.begin(ctx, op, name)
	if err != nil {
		return nil, err
	}
	defer r.release()
	path, dirfd, err := xattrPath(rootfd, name)
	if err != nil {
		return nil, pathErr(op, name, err)
	}
	defer closeFd(dirfd)
	names, err := listxattr(path, unix.Llistxattr)
	if err != nil {
		return nil, pathErr(op, name, err)
	}
	return names, nil
}

func xattrErr(op, name, attr string, err error) error {
	if err == unix.ENODATA {
		return &fs.PathError{Op: op, Path: name, Err: fmt.Errorf("%w: no attribute %q (ENODATA)", fs.ErrNotExist, attr)}
	}
	return &fs.PathError{Op: op, Path: name, Err: fmt.Errorf("attribute %q: %w", attr, mapErrno(err))}
}

// getxattr reads a whole attribute value with get, growing the buffer
// while the value grows under it.
func getxattr(path, attr string, get func(path, attr string, dest []byte) (int, error)) ([]byte, error) {
	for {
		size, err := get(path, attr, nil)
		if err != nil {
			return nil, err
		}
		buf := make([]byte, size)
		n, err := get(path, attr, buf)
		if err == unix.ERANGE {
			continue
		}
		if err != nil {
			return nil, err
		}
		return buf[:n], nil
	}
}

// listxattr lists attribute names with list, sorted.
func listxattr(path string, list func(path string, dest []byte) (int, error)) ([]string, error) {
	for {
		size, err := list(path, nil)
		if err != nil {
			return nil, err
		}
		if size == 0 {
			return nil, nil
		}
		buf := make([]byte, size)
		n, err := list(path, buf)
		if err == unix.ERANGE {
			continue
		}
		if err != nil {
			return nil, err
		}
		names := strings.Split(strings.TrimSuffix(string(buf[:n]), "\x00"), "\x00")
		slices.Sort(names)
		return names, nil
	}
}

// copyXattrs copies every extended attribute of the regular file behind
// the O_PATH descriptor from to the open file to.
func copyXattrs(from, to int) error {
	path := procPath(from) // a regular file: following the magic link is what we want
	names, err := listxattr(path, unix.Listxattr)
	if err != nil {
		if err == unix.EOPNOTSUPP {
			return nil // the filesystem has no attributes to copy
		}
		return err
	}
	for _, attr := range names {
		value, err := getxattr(path, attr, unix.Getxattr)
		if err == unix.ENODATA {
			continue // removed meanwhile
		}
		if err != nil {
			return fmt.Errorf("reading attribute %q: %w", attr, mapErrno(err))
		}
		if err := unix.Fsetxattr(to, attr, value, 0); err != nil {
			return fmt.Errorf("copying attribute %q: %w", attr, mapErrno(err))
		}
	}
	return nil
}
