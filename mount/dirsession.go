package mount

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"sync"

	"golang.org/x/sys/unix"

	"github.com/guestinject/guestinject/vfs"
)

// DirSession is a vfs.Session over a directory tree the caller already
// has: it works on a copy, so Close discards every change, and Commit
// swaps the copy in for the tree in one step. Open it with
// OpenDirSession.
type DirSession struct {
	*DirFS

	dir, work string
	mu        sync.Mutex
	ended     bool
}

var (
	_ vfs.Session   = (*DirSession)(nil)
	_ vfs.XattrFS   = (*DirSession)(nil)
	_ vfs.SymlinkFS = (*DirSession)(nil)
	_ vfs.RenameFS  = (*DirSession)(nil)
	_ vfs.TimesFS   = (*DirSession)(nil)
)

// OpenDirSession copies the tree at dir to a private sibling directory
// (same parent, so the same filesystem) and serves the copy as OpenDir
// would. The copy keeps every node's type, mode, owner, times and
// extended attributes; symlinks are copied as links, never followed, and
// hard links become separate files. Copying costs time and space in
// proportion to the tree: for a large tree the caller can keep a snapshot
// of its own and use OpenDir.
//
// Commit exchanges the copy and dir with renameat2(RENAME_EXCHANGE), so
// dir holds either the old tree or the new one, never a mixture, and then
// removes the old one. Close without Commit removes the copy. Device nodes
// need CAP_MKNOD to be copied, other owners CAP_CHOWN.
func OpenDirSession(ctx context.Context, dir string, opts ...DirOption) (_ *DirSession, err error) {
	pathErr := func(err error) error { return &fs.PathError{Op: "open", Path: dir, Err: err} }
	abs, err := filepath.Abs(dir)
	if err != nil {
		return nil, pathErr(err)
	}
	fi, err := os.Lstat(abs)
	if err != nil {
		return nil, err
	}
	if !fi.IsDir() {
		return nil, pathErr(vfs.ErrNotDir)
	}
	work, err := os.MkdirTemp(filepath.Dir(abs), "."+filepath.Base(abs)+".guestinject-")
	if err != nil {
		return nil, pathErr(err)
	}
	defer func() {
		if err != nil {
			os.RemoveAll(work)
		}
	}()
	if err := copyTree(ctx, abs, work); err != nil {
		return nil, pathErr(err)
	}
	d, err := OpenDir(work, opts...)
	if err != nil {
		return nil, pathErr(err)
	}
	return &DirSession{DirFS: d, dir: abs, work: work}, nil
}

// Commit flushes the copy, exchanges it with the tree and removes the old
// tree. If the exchange fails, the tree is as it was; an error after it
// means the new tree is in place and the old one partly left under a
// name starting with "." beside it. Calls after Commit or Close fail with
// vfs.ErrClosed.
func (s *DirSession) Commit(ctx context.Context) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	pathErr := func(err error) error { return &fs.PathError{Op: "commit", Path: s.dir, Err: err} }
	if s.ended {
		return pathErr(vfs.ErrClosed)
	}
	s.ended = true
	s.DirFS.Close()
	if err := ctx.Err(); err != nil {
		os.RemoveAll(s.work)
		return pathErr(err)
	}
	if err := syncDir(s.work); err != nil {
		os.RemoveAll(s.work)
		return pathErr(err)
	}
	if err := unix.Renameat2(unix.AT_FDCWD, s.work, unix.AT_FDCWD, s.dir, unix.RENAME_EXCHANGE); err != nil {
		os.RemoveAll(s.work)
		return pathErr(fmt.Errorf("exchanging the copy with the tree: %w", err))
	}
	// s.work now holds the old tree.
	if err := os.RemoveAll(s.work); err != nil {
		return pathErr(fmt.Errorf("removing the old tree: %w", err))
	}
	return nil
}

// Close ends the session; without Commit it removes the copy, so the tree
// is unchanged. Close after Commit does nothing.
func (s *DirSession) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.ended {
		return nil
	}
	s.ended = true
	s.DirFS.Close()
	if err := os.RemoveAll(s.work); err != nil {
		return &fs.PathError{Op: "close", Path: s.dir, Err: err}
	}
	return nil
}

// syncDir flushes the filesystem dir is on.
func syncDir(dir string) error {
	f, err := os.OpenFile(dir, os.O_RDONLY|unix.O_DIRECTORY|unix.O_NOFOLLOW, 0)
	if err != nil {
		return err
	}
	defer f.Close()
	return unix.Syncfs(int(f.Fd()))
}

// copyTree copies the tree at src into the existing directory dst, node
// by node, never following a symlink.
func copyTree(ctx context.Context, src, dst string) error {
	srcFS, err := OpenDir(src)
	if err != nil {
		return err
	}
	defer srcFS.Close()
	var dirs []string // directories whose times are set after their content
	err = filepath.WalkDir(src, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if err := ctx.Err(); err != nil {
			return err
		}
		rel, err := filepath.Rel(src, p)
		if err != nil {
			return err
		}
		target := filepath.Join(dst, rel)
		var st unix.Stat_t
		if err := unix.Lstat(p, &st); err != nil {
			return &os.PathError{Op: "lstat", Path: p, Err: err}
		}
		if err := copyNode(p, target, rel == ".", &st); err != nil {
			return err
		}
		if err := copyXattrs(ctx, srcFS, path.Join("/", filepath.ToSlash(rel)), target); err != nil {
			return err
		}
		if err := finishNode(target, &st); err != nil {
			return err
		}
		if st.Mode&unix.S_IFMT == unix.S_IFDIR {
			dirs = append(dirs, p)
		}
		return nil
	})
	if err != nil {
		return err
	}
	for i := len(dirs) - 1; i >= 0; i-- {
		var st unix.Stat_t
		if err := unix.Lstat(dirs[i], &st); err != nil {
			return err
		}
		rel, _ := filepath.Rel(src, dirs[i])
		if err := setTimes(filepath.Join(dst, rel), &st); err != nil {
			return err
		}
	}
	return nil
}

// copyNode makes dst a copy of the node src that st describes; root says
// dst is the existing top directory.
func copyNode(src, dst string, root bool, st *unix.Stat_t) error {
	switch st.Mode & unix.S_IFMT {
	case unix.S_IFDIR:
		if !root {
			if err := unix.Mkdir(dst, 0o700); err != nil {
				return &os.PathError{Op: "mkdir", Path: dst, Err: err}
			}
		}
	case unix.S_IFREG:
		if err := copyFile(src, dst); err != nil {
			return err
		}
	case unix.S_IFLNK:
		target, err := os.Readlink(src)
		if err != nil {
			return err
		}
		if err := os.Symlink(target, dst); err != nil {
			return err
		}
	case unix.S_IFIFO, unix.S_IFCHR, unix.S_IFBLK, unix.S_IFSOCK:
		if err := unix.Mknod(dst, st.Mode&unix.S_IFMT|0o600, int(st.Rdev)); err != nil {
			return &os.PathError{Op: "mknod", Path: dst, Err: err}
		}
	default:
		return &os.PathError{Op: "copy", Path: src, Err: errors.New("unknown file type")}
	}
	return nil
}

// finishNode gives the copy dst the owner, mode and (but for directories,
// whose times are set after their content) times st describes.
func finishNode(dst string, st *unix.Stat_t) error {
	mode := st.Mode & 0o7777
	if err := unix.Lchown(dst, int(st.Uid), int(st.Gid)); err != nil && !(errors.Is(err, unix.EPERM) && st.Uid == uint32(os.Geteuid())) {
		return &os.PathError{Op: "lchown", Path: dst, Err: err}
	}
	if st.Mode&unix.S_IFMT != unix.S_IFLNK {
		// After chown, which clears set-id bits.
		if err := unix.Fchmodat(unix.AT_FDCWD, dst, mode, 0); err != nil {
			return &os.PathError{Op: "chmod", Path: dst, Err: err}
		}
	}
	if st.Mode&unix.S_IFMT == unix.S_IFDIR {
		return nil // set after the content
	}
	return setTimes(dst, st)
}

func copyFile(src, dst string) error {
	in, err := os.OpenFile(src, os.O_RDONLY|unix.O_NOFOLLOW, 0)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.OpenFile(dst, os.O_WRONLY|os.O_CREATE|os.O_EXCL|unix.O_NOFOLLOW, 0o600)
	if err != nil {
		return err
	}
	// A reflink where the filesystem has them, a copy elsewhere.
	if unix.IoctlFileClone(int(out.Fd()), int(in.Fd())) != nil {
		if _, err := io.Copy(out, in); err != nil {
			out.Close()
			return err
		}
	}
	return out.Close()
}

// copyXattrs copies the extended attributes of src's guest path name to
// the host path dst, reading them through src's in-root resolver.
func copyXattrs(ctx context.Context, src *DirFS, name, dst string) error {
	attrs, err := src.Llistxattr(ctx, name)
	if errors.Is(err, vfs.ErrNotSupported) {
		return nil
	}
	if err != nil {
		return err
	}
	for _, attr := range attrs {
		value, err := src.Lgetxattr(ctx, name, attr)
		if err != nil {
			return err
		}
		if err := unix.Lsetxattr(dst, attr, value, 0); err != nil {
			return &os.PathError{Op: "lsetxattr", Path: dst, Err: err}
		}
	}
	return nil
}

func setTimes(p string, st *unix.Stat_t) error {
	ts := []unix.Timespec{st.Atim, st.Mtim}
	if err := unix.UtimesNanoAt(unix.AT_FDCWD, p, ts, unix.AT_SYMLINK_NOFOLLOW); err != nil {
		return &os.PathError{Op: "utimes", Path: p, Err: err}
	}
	return nil
}
