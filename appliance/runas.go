package appliance

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"math/rand/v2"
	"os"
	"strconv"
	"strings"
	"syscall"

	"golang.org/x/sys/unix"
)

// The direct launcher runs QEMU, when the caller is root, under a user
// and group of its own taken from this range, one per session, so that
// two compromised VMs cannot signal or trace each other and neither owns
// a file on the host. The range lies above the ones systemd assigns
// (dynamic users, containers) and below 2^31, where some tools misread
// uids as negative.
const (
	DynamicUIDBase  = 0x78000000
	DynamicUIDCount = 0x10000
)

// runtimeDir holds the reservation lock. It is root's alone: whoever can
// open the lock file can hold uids hostage.
const runtimeDir = "/run/guestinject"

// uidLockName is the file whose byte i, locked with an open file
// description lock, reserves uid DynamicUIDBase+i.
const uidLockName = "dynamic-uids.lock"

// User is the identity QEMU runs as.
type User struct {
	UID, GID uint32
}

// uidReservation holds a dynamic uid until every process that has its
// lock file open has closed it or died.
type uidReservation struct {
	User
	lock *os.File
}

// reserveDynamicUser reserves a free uid from the dynamic range (gid the
// same number): an OFD lock on its byte of the lock file, taken without
// waiting, and no process running under it. The lock belongs to the open
// file, shared by every process that inherits it, and is dropped when the
// last of them closes it or dies.
func reserveDynamicUser() (*uidReservation, error) {
	if err := ensureRootDir(runtimeDir); err != nil {
		return nil, err
	}
	path := runtimeDir + "/" + uidLockName
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE|unix.O_NOFOLLOW, 0o600)
	if err != nil {
		return nil, fmt.Errorf("appliance: reserving a uid: %w", err)
	}
	first := rand.IntN(DynamicUIDCount)
	// A bounded number of tries: a range this large is only exhausted
	// by a leak, which this makes visible instead of spinning on.
	for i := range 256 {
		slot := int64((first + i) % DynamicUIDCount)
		if err := lockSlot(f, slot); err != nil {
			if errors.Is(err, unix.EAGAIN) || errors.Is(err, unix.EACCES) {
				continue
			}
			f.Close()
			return nil, &fs.PathError{Op: "lock", Path: path, Err: err}
		}
		uid := uint32(DynamicUIDBase + slot)
		if uidInUse(uid) {
			// A VM of a process that just died may still be going away.
			lk := unix.Flock_t{Type: unix.F_UNLCK, Start: slot, Len: 1}
			unix.FcntlFlock(f.Fd(), unix.F_OFD_SETLK, &lk)
			continue
		}
		return &uidReservation{User: User{UID: uid, GID: uid}, lock: f}, nil
	}
	f.Close()
	return nil, fmt.Errorf("appliance: no free uid in %d..%d", DynamicUIDBase, DynamicUIDBase+DynamicUIDCount-1)
}

// lockSlot takes the OFD write lock on byte slot of f without waiting.
func lockSlot(f *os.File, slot int64) error {
	lk := unix.Flock_t{Type: unix.F_WRLCK, Start: slot, Len: 1}
	return unix.FcntlFlock(f.Fd(), unix.F_OFD_SETLK, &lk)
}

// ensureRootDir creates dir (mode 0700) when missing and insists that it
// is a real directory that only root can write to.
func ensureRootDir(dir string) error {
	if err := os.Mkdir(dir, 0o700); err != nil && !errors.Is(err, fs.ErrExist) {
		return fmt.Errorf("appliance: %w", err)
	}
	fi, err := os.Lstat(dir)
	if err != nil {
		return fmt.Errorf("appliance: %w", err)
	}
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !fi.IsDir() || !ok || st.Uid != 0 || fi.Mode().Perm()&0o077 != 0 {
		return &fs.PathError{Op: "open", Path: dir, Err: errors.New("not a directory private to root")}
	}
	return nil
}

// uidInUse reports whether any process has uid as its real, effective,
// saved or filesystem uid.
func uidInUse(uid uint32) bool {
	entries, err := os.ReadDir("/proc")
	if err != nil {
		return true
	}
	want := strconv.FormatUint(uint64(uid), 10)
	for _, e := range entries {
		if e.Name()[0] < '0' || e.Name()[0] > '9' {
			continue
		}
		b, err := os.ReadFile("/proc/" + e.Name() + "/status")
		if err != nil {
			continue // gone
		}
		if statusHasUID(b, want) {
			return true
		}
	}
	return false
}

func statusHasUID(status []byte, uid string) bool {
	sc := bufio.NewScanner(bytes.NewReader(status))
	for sc.Scan() {
		if ids, ok := strings.CutPrefix(sc.Text(), "Uid:"); ok {
			for _, id := range strings.Fields(ids) {
				if id == uid {
					return true
				}
			}
			return false
		}
	}
	return false
}
