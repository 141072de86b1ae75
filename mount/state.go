package mount

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"golang.org/x/sys/unix"

	"github.com/guestinject/guestinject/internal/ownerdir"
)

// sessionPrefix starts the name of every session directory; the owner's
// pid and start time follow, so a sweep can tell a live owner from a dead
// one without reading anything inside.
const sessionPrefix = "guestinject-mount-"

// Names inside a session directory. The sweep removes exactly these and
// never recurses, so it cannot delete through a mount it failed to
// unmount.
const (
	mountPointName = "root"          // where the guest filesystem is mounted
	exportName     = "export.raw"    // qemu-storage-daemon's FUSE export
	overlayName    = "overlay.qcow2" // private overlay taking the writes
	daemonPidName  = "qsd.pid"       // the storage daemon's pid
	ownerName      = "owner"         // pid, start time and executable, for people
)

// unmountTimeout bounds the EBUSY retries of one unmount.
const unmountTimeout = 10 * time.Second

// sessionDir is a private 0700 directory holding one session's mount
// point, export and overlay. Its owner keeps an exclusive flock on it for
// the session's lifetime; the kernel drops the lock when the owner dies.
type sessionDir struct {
	path string
	lock *ownerdir.Dir
}

func newSessionDir(stateDir string) (*sessionDir, error) {
	od, err := ownerdir.Create(stateDir, sessionPrefix)
	if err != nil {
		return nil, err
	}
	d := &sessionDir{path: od.Path, lock: od}
	exe, _ := os.Executable()
	start, _ := ownerdir.ProcessStart(os.Getpid())
	owner := fmt.Sprintf("pid=%d start=%d exe=%s\n", os.Getpid(), start, exe)
	if err := os.WriteFile(d.file(ownerName), []byte(owner), 0o600); err != nil {
		d.remove()
		return nil, err
	}
	if err := os.Mkdir(d.file(mountPointName), 0o700); err != nil {
		d.remove()
		return nil, err
	}
	return d, nil
}

func (d *sessionDir) file(name string) string { return filepath.Join(d.path, name) }

// remove deletes the directory's known entries and the directory itself,
// then drops the lock. Entries that are still mount points, or anything
// it does not know, make it fail instead: it never removes recursively.
func (d *sessionDir) remove() error {
	err := removeKnown(d.path)
	d.lock.Unlock()
	return err
}

func removeKnown(dir string) error {
	var errs []error
	entries, err := os.ReadDir(dir)
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return err
	}
	for _, e := range entries {
		switch name := e.Name(); {
		case name == mountPointName:
			// rmdir fails with EBUSY on a mount point: nothing below it
			// can be reached.
			errs = append(errs, ignoreNotExist(unix.Rmdir(filepath.Join(dir, name))))
		case name == exportName, name == overlayName, name == daemonPidName, name == ownerName:
			errs = append(errs, ignoreNotExist(unix.Unlink(filepath.Join(dir, name))))
		}
	}
	errs = append(errs, ignoreNotExist(unix.Rmdir(dir)))
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("%w: removing %s: %w", ErrTeardown, dir, err)
	}
	return nil
}

func ignoreNotExist(err error) error {
	if errors.Is(err, unix.ENOENT) {
		return nil
	}
	return err
}

// mountEntry is one line of /proc/self/mountinfo.
type mountEntry struct {
	ID, Parent int
	MountPoint string
	FSType     string
	Source     string
}

// parseMountInfo reads /proc/self/mountinfo text; malformed lines are
// skipped. Mount points are unescaped (\040 and friends).
func parseMountInfo(b []byte) []mountEntry {
	var out []mountEntry
	for line := range strings.SplitSeq(string(b), "\n") {
		fields := strings.Fields(line)
		sep := slices.Index(fields, "-")
		if sep < 6 || len(fields) < sep+3 {
			continue
		}
		id, err1 := strconv.Atoi(fields[0])
		parent, err2 := strconv.Atoi(fields[1])
		if err1 != nil || err2 != nil {
			continue
		}
		out = append(out, mountEntry{
			ID: id, Parent: parent,
			MountPoint: unescapeMountField(fields[4]),
			FSType:     fields[sep+1],
			Source:     unescapeMountField(fields[sep+2]),
		})
	}
	return out
}

// unescapeMountField undoes the kernel's octal escapes of space, tab,
// newline and backslash.
func unescapeMountField(s string) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+4 <= len(s) && isOctal(s[i+1:i+4]) {
			v, _ := strconv.ParseUint(s[i+1:i+4], 8, 8)
			b.WriteByte(byte(v))
			i += 3
			continue
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

func isOctal(s string) bool {
	if len(s) != 3 || s[0] > '3' {
		return false
	}
	for i := 0; i < 3; i++ {
		if s[i] < '0' || s[i] > '7' {
			return false
		}
	}
	return true
}

// mountsUnder lists the mounts at or below dir, deepest first.
func mountsUnder(dir string) ([]mountEntry, error) {
	b, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		return nil, err
	}
	var out []mountEntry
	for _, m := range parseMountInfo(b) {
		if m.MountPoint == dir || strings.HasPrefix(m.MountPoint, dir+"/") {
			out = append(out, m)
		}
	}
	// Later mounts sit on top of earlier ones.
	slices.SortFunc(out, func(a, b mountEntry) int { return b.ID - a.ID })
	return out, nil
}

func isMounted(path string) bool {
	ms, err := mountsUnder(path)
	return err == nil && slices.ContainsFunc(ms, func(m mountEntry) bool { return m.MountPoint == path })
}

// unmount unmounts target, retrying while it is busy (a file still open
// in it) until ctx ends or unmountTimeout passes. A target that is not a
// mount point is not an error.
func unmount(ctx context.Context, target string) error {
	ctx, cancel := context.WithTimeout(ctx, unmountTimeout)
	defer cancel()
	delay := 5 * time.Millisecond
	for {
		err := unix.Unmount(target, unix.UMOUNT_NOFOLLOW)
		switch {
		case err == nil:
			return nil
		case err == unix.EINVAL && !isMounted(target), err == unix.ENOENT:
			return nil
		case err != unix.EBUSY:
			return &os.PathError{Op: "umount", Path: target, Err: err}
		}
		select {
		case <-ctx.Done():
			return &os.PathError{Op: "umount", Path: target, Err: fmt.Errorf("%w (gave up: %w)", err, ctx.Err())}
		case <-time.After(delay):
		}
		delay = min(2*delay, 200*time.Millisecond)
	}
}

// Cleanup releases what crashed sessions left in stateDir (os.TempDir()
// when empty): for every session directory whose owning process is dead
// and whose lock nobody holds, it unmounts the guest filesystem (its
// autoclear loop device then detaches), stops the storage daemon, unmounts
// the export, detaches any loop device still bound to a file in it, and
// removes the directory's known files (an overlay's changes are
// discarded, so the image stays as it was). Sessions of live processes
// are never touched. OpenTrusted and OpenTrustedInPlace run it on their state directory each time.
func Cleanup(ctx context.Context, stateDir string) error {
	return sweep(ctx, stateDir, slog.New(slog.DiscardHandler))
}

func sweep(ctx context.Context, stateDir string, log *slog.Logger) error {
	if stateDir == "" {
		stateDir = os.TempDir()
	}
	return ownerdir.Stale(ctx, stateDir, sessionPrefix, func(ctx context.Context, dir string) error {
		return sweepSession(ctx, dir, log)
	})
}

// sweepSession cleans up the directory of a dead session; the caller
// holds its lock.
func sweepSession(ctx context.Context, dir string, log *slog.Logger) error {
	log.Info("mount: cleaning up after a dead session", "dir", dir)
	// The guest filesystem first, while a storage daemon that survived
	// can still take its last writes.
	if err := unmount(ctx, filepath.Join(dir, mountPointName)); err != nil {
		return fmt.Errorf("%w: %w", ErrTeardown, err)
	}
	killStaleDaemon(dir)
	detachLoopsBackedBy(dir)
	mounts, err := mountsUnder(dir)
	if err != nil {
		return err
	}
	for _, m := range mounts {
		if err := unmount(ctx, m.MountPoint); err != nil {
			return fmt.Errorf("%w: %w", ErrTeardown, err)
		}
	}
	return removeKnown(dir)
}

// killStaleDaemon kills the storage daemon a dead session recorded, if it
// still runs and is still that daemon.
func killStaleDaemon(dir string) {
	b, err := os.ReadFile(filepath.Join(dir, daemonPidName))
	if err != nil {
		return
	}
	pid, start, ok := strings.Cut(strings.TrimSpace(string(b)), " ")
	p, err1 := strconv.Atoi(pid)
	s, err2 := strconv.ParseUint(start, 10, 64)
	if !ok || err1 != nil || err2 != nil || p <= 0 || !ownerdir.Alive(p, s) {
		return
	}
	unix.Kill(p, unix.SIGKILL)
	for i := 0; i < 200 && ownerdir.Alive(p, s); i++ {
		time.Sleep(10 * time.Millisecond)
	}
}
