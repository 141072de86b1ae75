package inroot

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"strconv"
	"sync"

	"golang.org/x/sys/unix"

	"github.com/guestinject/guestinject/vfs"
)

// Root is a guest tree rooted at a host directory. It implements vfs.FS,
// vfs.XattrFS, vfs.SymlinkFS, vfs.RenameFS and vfs.TimesFS and is safe for
// concurrent use.
type Root struct {
	dir string
	log *slog.Logger // nil: no logging
	// noSync leaves writes and renames to the kernel (WithoutSync).
	noSync bool

	mu     sync.Mutex
	fd     int // O_PATH|O_DIRECTORY descriptor of the root
	users  int // calls currently using fd
	closed bool
}

var (
	_ vfs.FS        = (*Root)(nil)
	_ vfs.XattrFS   = (*Root)(nil)
	_ vfs.SymlinkFS = (*Root)(nil)
	_ vfs.RenameFS  = (*Root)(nil)
	_ vfs.TimesFS   = (*Root)(nil)
)

// Option configures Open.
type Option func(*Root)

// WithLogger logs every change Root makes (writes, new directories, mode
// and owner changes, removals, symlinks, attributes) at debug level.
func WithLogger(l *slog.Logger) Option {
	return func(r *Root) { r.log = l }
}

// WithoutSync makes writes and renames return without syncing the file
// and its directory. It is for a root whose filesystems are made durable
// as a whole before anyone relies on them: the appliance unmounts every
// filesystem before its VM ends, and a VM that ends any other way has its
// overlay thrown away, so syncing each file there only waits for the
// guest's journal, many times over.
func WithoutSync() Option {
	return func(r *Root) { r.noSync = true }
}

// Open opens the host directory dir as a guest root. dir itself is a host
// path chosen by the caller and is resolved normally; everything below it
// is resolved in the root. Open fails when procfs is not mounted at /proc
// (see the package documentation).
func Open(dir string, opts ...Option) (*Root, error) {
	if err := checkProc(); err != nil {
		return nil, &fs.PathError{Op: "open", Path: dir, Err: err}
	}
	fd, err := unix.Open(dir, unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, &fs.PathError{Op: "open", Path: dir, Err: mapErrno(err)}
	}
	r := &Root{dir: dir, fd: fd}
	for _, o := range opts {
		o(r)
	}
	return r, nil
}

// checkProc makes sure /proc is procfs, since reopening descriptors
// through /proc/self/fd is only safe on the real thing.
func checkProc() error {
	var st unix.Statfs_t
	if err := unix.Statfs("/proc", &st); err != nil {
		return fmt.Errorf("procfs is needed at /proc: %w", err)
	}
	if st.Type != unix.PROC_SUPER_MAGIC {
		return fmt.Errorf("%w: /proc is not procfs (type %#x)", vfs.ErrNotSupported, st.Type)
	}
	return nil
}

// Dir returns the host directory r was opened on.
func (r *Root) Dir() string { return r.dir }

// Close releases the root descriptor once calls in flight are done. Calls
// after Close fail with vfs.ErrClosed.
func (r *Root) Close() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.closed {
		return &fs.PathError{Op: "close", Path: r.dir, Err: vfs.ErrClosed}
	}
	r.closed = true
	if r.users == 0 {
		return closeFd(r.fd)
	}
	return nil
}

// acquire returns the root descriptor, valid until release.
func (r *Root) acquire() (int, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.closed {
		return -1, vfs.ErrClosed
	}
	r.users++
	return r.fd, nil
}

func (r *Root) release() {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.users--
	if r.closed && r.users == 0 {
		_ = closeFd(r.fd)
	}
}

// begin does what every call does first: check the name, the context and
// that r is open. On success the caller must call r.release.
func (r *Root) begin(ctx context.Context, op, name string) (int, error) {
	if err := vfs.CheckPath(op, name); err != nil {
		return -1, err
	}
	if err := ctx.Err(); err != nil {
		return -1, &fs.PathError{Op: op, Path: name, Err: err}
	}
	rootfd, err := r.acquire()
	if err != nil {
		return -1, &fs.PathError{Op: op, Path: name, Err: err}
	}
	return rootfd, nil
}

func (r *Root) logChange(ctx context.Context, op, name string, attrs ...any) {
	if r.log != nil {
		r.log.DebugContext(ctx, op, append([]any{"path", name}, attrs...)...)
	}
}

// maxAgain bounds retries of openat2 when it reports EAGAIN.
const maxAgain = 64

// resolveFlags confine every resolution to the root.
const resolveFlags = unix.RESOLVE_IN_ROOT | unix.RESOLVE_NO_MAGICLINKS

// relative turns a guest path into a name relative to the root descriptor.
func relative(name string) string {
	if name == "/" {
		return "."
	}
	return name[1:]
}

// openInRoot opens the guest path name with openat2, resolved in the root.
// The error is a raw errno (EXDEV means the kernel saw an escape).
func openInRoot(rootfd int, name string, flags uint64) (int, error) {
	how := unix.OpenHow{Flags: flags | unix.O_CLOEXEC, Resolve: resolveFlags}
	rel := relative(name)
	for tries := 0; ; tries++ {
		fd, err := unix.Openat2(rootfd, rel, &how)
		if (err == unix.EAGAIN && tries < maxAgain) || err == unix.EINTR {
			continue
		}
		return fd, err
	}
}

// parent resolves the directory holding name in the root and returns an
// O_PATH descriptor of it with the final component. For "/" it returns a
// duplicate of the root descriptor and base "".
func parent(rootfd int, name string) (dirfd int, base string, err error) {
	if name == "/" {
		fd, err := unix.FcntlInt(uintptr(rootfd), unix.F_DUPFD_CLOEXEC, 0)
		return fd, "", err
	}
	dir, base := vfs.Split(name)
	fd, err := openInRoot(rootfd, dir, unix.O_PATH|unix.O_DIRECTORY)
	return fd, base, err
}

// openNoFollow returns an O_PATH descriptor of base in dirfd itself, a
// symlink included; base "" means dirfd.
func openNoFollow(dirfd int, base string) (int, error) {
	if base == "" {
		base = "."
	}
	for {
		fd, err := unix.Openat(dirfd, base, unix.O_PATH|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
		if err != unix.EINTR {
			return fd, err
		}
	}
}

// reopen opens the object behind the O_PATH descriptor fd with flags,
// through procfs. Only callers that have checked the type of fd use it.
func reopen(fd int, flags int) (int, error) {
	for {
		nfd, err := unix.Open(procPath(fd), flags|unix.O_CLOEXEC|unix.O_NOCTTY, 0)
		if err != unix.EINTR {
			return nfd, err
		}
	}
}

func procPath(fd int) string { return "/proc/self/fd/" + strconv.Itoa(fd) }

// chmodFd sets the mode of the object behind the O_PATH descriptor fd,
// which is not a symlink.
func chmodFd(fd int, mode uint32) error {
	err := unix.Fchmodat(fd, "", mode, unix.AT_EMPTY_PATH)
	if err == unix.EOPNOTSUPP || err == unix.ENOSYS {
		// No fchmodat2 (before Linux 6.6): chmod through procfs reaches
		// the same inode.
		return chmodViaProc(fd, mode)
	}
	return err
}

func chmodViaProc(fd int, mode uint32) error {
	return unix.Chmod(procPath(fd), mode)
}

func closeFd(fd int) error {
	err := unix.Close(fd)
	if errors.Is(err, unix.EINTR) {
		return nil // the descriptor is released anyway on Linux
	}
	return err
}
