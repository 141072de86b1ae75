package guest

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"

	"github.com/guestinject/guestinject/internal/inroot"
)

// ProbeMount is where the agent mounts each candidate filesystem, alone
// and read-only, to look for /etc/os-release and /etc/fstab.
const ProbeMount = "/run/guestinject/probe"

// Mounts are filesystems mounted inside the guest root, in mount order.
// Each is remembered by the kernel's own name of its mount point (read
// back from the descriptor it was mounted on, so it has no symlinks and
// lies inside the root) and unmounted with UMOUNT_NOFOLLOW.
type Mounts struct {
	paths []string
}

// MountInRoot mounts device (type fstype, flags, data) on the directory target
// resolved inside root: an O_PATH descriptor of the directory is opened
// with openat2 RESOLVE_IN_ROOT and the mount goes onto /proc/self/fd/N, so
// symlinks and ".." in the guest's mount point stay inside the root. It
// returns where the mount landed, as a guest path.
func (m *Mounts) MountInRoot(ctx context.Context, root *inroot.Root, target, device, fstype string, flags uintptr, data string) (string, error) {
	dir, err := root.OpenDir(ctx, target)
	if err != nil {
		return "", err
	}
	var under unix.Stat_t
	err = unix.Fstat(int(dir.Fd()), &under)
	if err == nil {
		err = unix.Mount(device, fdPath(dir), fstype, flags, data)
	}
	dir.Close()
	if err != nil {
		return "", &os.PathError{Op: "mount", Path: target, Err: err}
	}
	// The mount's root, reached by the same resolution, names the mount
	// point for the unmount.
	top, err := root.OpenDir(ctx, target)
	if err != nil {
		return "", &os.PathError{Op: "mount", Path: target, Err: err}
	}
	defer top.Close()
	var st unix.Stat_t
	err = unix.Fstat(int(top.Fd()), &st)
	if err == nil && st.Dev == under.Dev && st.Ino == under.Ino {
		err = errors.New("the mount is not visible at its mount point")
	}
	var host string
	if err == nil {
		host, err = os.Readlink(fdPath(top))
	}
	prefix := strings.TrimSuffix(root.Dir(), "/") + "/"
	if err == nil && !strings.HasPrefix(host, prefix) {
		err = fmt.Errorf("mounted at %q, outside the root", host)
	}
	if err != nil {
		// Undo through the descriptor, which is the mount's root.
		unix.Unmount(fdPath(top), unix.MNT_DETACH)
		return "", &os.PathError{Op: "mount", Path: target, Err: err}
	}
	m.paths = append(m.paths, host)
	return "/" + host[len(prefix):], nil
}

// UnmountAll flushes and unmounts every filesystem, the last mounted (the
// deepest) first. It tries them all and returns the first error.
func (m *Mounts) UnmountAll() error {
	unix.Sync()
	var first error
	for i := len(m.paths) - 1; i >= 0; i-- {
		if err := unix.Unmount(m.paths[i], unix.UMOUNT_NOFOLLOW); err != nil && first == nil {
			first = fmt.Errorf("unmounting %s: %w", m.paths[i], err)
		}
	}
	m.paths = nil
	return first
}

func fdPath(f *os.File) string { return "/proc/self/fd/" + strconv.Itoa(int(f.Fd())) }
