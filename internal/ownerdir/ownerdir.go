package ownerdir

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
)

// Dir is a session directory created by this process and locked by it.
type Dir struct {
	// Path is the directory, mode 0700.
	Path string
	lock *os.File
}

// Create makes a fresh directory in parent named after prefix and the
// calling process, and locks it.
func Create(parent, prefix string) (*Dir, error) {
	pid := os.Getpid()
	start, err := ProcessStart(pid)
	if err != nil {
		return nil, err
	}
	path, err := os.MkdirTemp(parent, fmt.Sprintf("%s%d-%d-", prefix, pid, start))
	if err != nil {
		return nil, err
	}
	lock, err := Lock(path, 0)
	if err != nil {
		os.Remove(path)
		return nil, err
	}
	return &Dir{Path: path, lock: lock}, nil
}

// Unlock drops the lock. Call it after the directory is removed: a
// directory that is still there and unlocked is fair game for a sweep
// once its owner has died.
func (d *Dir) Unlock() error { return d.lock.Close() }

// Lock opens dir and takes an exclusive flock on it; how is 0 to wait or
// unix.LOCK_NB to fail at once when someone holds it. Closing the file
// drops the lock.
func Lock(dir string, how int) (*os.File, error) {
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

// Stale calls clean, with the directory's lock held, for every directory
// in parent named with prefix whose owner is dead and whose lock nobody
// holds. It stops early when ctx ends and returns clean's errors joined.
func Stale(ctx context.Context, parent, prefix string, clean func(ctx context.Context, dir string) error) error {
	entries, err := os.ReadDir(parent)
	if err != nil {
		return err
	}
	var errs []error
	for _, e := range entries {
		pid, start, ok := ParseName(prefix, e.Name())
		if !ok || !e.IsDir() || Alive(pid, start) {
			continue
		}
		if err := ctx.Err(); err != nil {
			return err
		}
		dir := filepath.Join(parent, e.Name())
		lock, err := Lock(dir, unix.LOCK_NB)
		if err != nil {
			// Held by a live owner or another sweeper, or already gone.
			continue
		}
		errs = append(errs, clean(ctx, dir))
		lock.Close()
	}
	return errors.Join(errs...)
}

// ParseName returns the owner encoded in a directory name,
// "<prefix><pid>-<start>-<random>".
func ParseName(prefix, name string) (pid int, start uint64, ok bool) {
	rest, found := strings.CutPrefix(name, prefix)
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

// ProcessStart returns the start time of process pid in clock ticks since
// boot, which together with the pid names a process uniquely.
func ProcessStart(pid int) (uint64, error) {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return 0, err
	}
	st, err := ParseStat(b)
	return st.Start, err
}

// Stat is what this package reads from /proc/<pid>/stat.
type Stat struct {
	State byte   // R, S, D, Z, ...
	Start uint64 // clock ticks since boot
}

// ParseStat reads the state and start time from /proc/<pid>/stat. The
// command name in parentheses may hold spaces and parentheses itself, so
// fields are counted from the last ')'.
func ParseStat(b []byte) (Stat, error) {
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return Stat{}, errors.New("proc stat: no command name")
	}
	fields := strings.Fields(string(b[i+1:]))
	// fields[0] is field 3 (state); starttime is field 22.
	if len(fields) < 20 || len(fields[0]) != 1 {
		return Stat{}, errors.New("proc stat: too few fields")
	}
	start, err := strconv.ParseUint(fields[19], 10, 64)
	if err != nil {
		return Stat{}, fmt.Errorf("proc stat: start time: %w", err)
	}
	return Stat{State: fields[0][0], Start: start}, nil
}

// Alive reports whether the process pid started at start still runs. A
// zombie has released its files and locks, so it counts as dead.
func Alive(pid int, start uint64) bool {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return false
	}
	st, err := ParseStat(b)
	return err == nil && st.Start == start && st.State != 'Z' && st.State != 'X'
}
