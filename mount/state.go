package mount

import (
	"bytes"
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
	overlayName    = "overlay.qcow2" // private overlay of WithOverlay and qcow2
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
	lock *os.File
}

func newSessionDir(stateDir string) (*sessionDir, error) {
	pid := os.Getpid()
	start, err := processStart(pid)
	if err != nil {
		return nil, err
	}
	path, err := os.MkdirTemp(stateDir, fmt.Sprintf("%s%d-%d-", sessionPrefix, pid, start))
	if err != nil {
		return nil, err
	}
	lock, err := lockDir(path, 0)
	if err != nil {
		os.Remove(path)
		return nil, err
	}
	d := &sessionDir{path: path, lock: lock}
	exe, _ := os.Executable()
	owner := fmt.Sprintf("pid=%d start=%d exe=%s\n", pid, start, exe)
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

// lockDir opens dir and takes an exclusive flock on it; how is 0 to wait
// or unix.LOCK_NB to fail at once when someone holds it.
func lockDir(dir string, how int) (*os.File, error) {
	f, err := os.OpenFile(dir, os.O_RDONLY|unix.O_DIRECTORY|unix.O_NOFOLLOW, 0)
	if err != nil {
		return nil, err
	}
	for {
		err = unix.Flock(int(f.Fd()), unix.LOCK_EX|how)
		if err != unix.EINTR {
			break
		}
	}
	if err != nil {
		f.Close()
		return nil, &os.PathError{Op: "flock", Path: dir, Err: err}
	}
	return f, nil
}

// remove deletes the directory's known entries and the directory itself,
// then drops the lock. Entries that are still mount points, or anything
// it does not know, make it fail instead: it never removes recursively.
func (d *sessionDir) remove() error {
	err := removeKnown(d.path)
	d.lock.Close()
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

// processStart returns the start time of process pid in clock ticks since
// boot, which together with the pid names a process uniquely.
func processStart(pid int) (uint64, error) {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return 0, err
	}
	st, err := parseProcStat(b)
	return st.start, err
}

type procStat struct {
	state byte
	start uint64
}

// parseProcStat reads the state and start time from /proc/<pid>/stat. The
// command name in parentheses may hold spaces and parentheses itself, so
// fields are counted from the last ')'.
func parseProcStat(b []byte) (procStat, error) {
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return procStat{}, errors.New("proc stat: no command name")
	}
	fields := strings.Fields(string(b[i+1:]))
	// fields[0] is field 3 (state); starttime is field 22.
	if len(fields) < 20 || len(fields[0]) != 1 {
		return procStat{}, errors.New("proc stat: too few fields")
	}
	start, err := strconv.ParseUint(fields[19], 10, 64)
	if err != nil {
		return procStat{}, fmt.Errorf("proc stat: start time: %w", err)
	}
	return procStat{state: fields[0][0], start: start}, nil
}

// alive reports whether the process pid started at start still runs. A
// zombie has released its files and locks, so it counts as dead.
func alive(pid int, start uint64) bool {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return false
	}
	st, err := parseProcStat(b)
	return err == nil && st.start == start && st.state != 'Z' && st.state != 'X'
}

// parseSessionName returns the owner encoded in a session directory's
// name, "guestinject-mount-<pid>-<start>-<random>".
func parseSessionName(name string) (pid int, start uint64, ok bool) {
	rest, found := strings.CutPrefix(name, sessionPrefix)
	if !found {
		return 0, 0, false
	}
	parts := strings.SplitN(rest, "-", 3)
	if len(parts) != 3 || parts[2] == "" {
		return 0, 0, false
	}
	pid, err1 := strconv.Atoi(parts[0])
	start, err2 := strconv.ParseUint(parts[1], 10, 64)
	if err1 != nil || err2 != nil || pid <= 0 || strconv.Itoa(pid) != parts[0] {
		return 0, 0, false
	}
	return pid, start, true
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
// are never touched. Open runs it on its state directory each time.
func Cleanup(ctx context.Context, stateDir string) error {
	return sweep(ctx, stateDir, slog.New(slog.DiscardHandler))
}

func sweep(ctx context.Context, stateDir string, log *slog.Logger) error {
	if stateDir == "" {
		stateDir = os.TempDir()
	}
	entries, err := os.ReadDir(stateDir)
	if err != nil {
		return err
	}
	var errs []error
	for _, e := range entries {
		pid, start, ok := parseSessionName(e.Name())
		if !ok || !e.IsDir() || alive(pid, start) {
			continue
		}
		if err := ctx.Err(); err != nil {
			return err
		}
		dir := filepath.Join(stateDir, e.Name())
		if err := sweepSession(ctx, dir, log); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

func sweepSession(ctx context.Context, dir string, log *slog.Logger) error {
	lock, err := lockDir(dir, unix.LOCK_NB)
	if err != nil {
		// Held by a live owner or another sweeper, or already gone.
		return nil
	}
	defer lock.Close()
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
	if !ok || err1 != nil || err2 != nil || p <= 0 || !alive(p, s) {
		return
	}
	unix.Kill(p, unix.SIGKILL)
	for i := 0; i < 200 && alive(p, s); i++ {
		time.Sleep(10 * time.Millisecond)
	}
}
