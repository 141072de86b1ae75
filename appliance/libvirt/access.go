package libvirt

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/user"
	"path/filepath"
	"strconv"
	"syscall"

	"github.com/guestinject/guestinject/appliance"
)

// ErrNotAccessible means the user QEMU runs as cannot reach a file the VM
// needs.
var ErrNotAccessible = errors.New("not accessible to the QEMU user")

// AccessError names the file QEMU could not read and what stops it: the
// file itself or a directory above it.
type AccessError struct {
	Path    string // the file the VM needs
	Blocker string // Path when unreadable, or the directory QEMU cannot search
	UID     int    // QEMU's user
}

func (e *AccessError) Error() string {
	if e.Blocker == e.Path {
		return fmt.Sprintf("appliance/libvirt: %s: %v (uid %d): not readable", e.Path, ErrNotAccessible, e.UID)
	}
	return fmt.Sprintf("appliance/libvirt: %s: %v (uid %d): cannot search %s", e.Path, ErrNotAccessible, e.UID, e.Blocker)
}

func (e *AccessError) Unwrap() error { return ErrNotAccessible }

// runsAsOtherUser reports whether QEMU runs as a user other than this
// process, as under qemu:///system.
func (h hostFacts) runsAsOtherUser() bool {
	return h.qemuUID >= 0 && h.qemuUID != os.Geteuid()
}

// stageBootFiles prepares spec.Dir for a VM whose QEMU runs as another
// user. Libvirt's DAC driver hands each file the VM opens (overlays,
// images, kernel, initramfs, the agent socket) to QEMU's user for the
// VM's lifetime and gives it back after, but it does not touch
// directories. So the private directory becomes searchable — not
// listable — by QEMU's group alone (0710), the agent socket, which the
// host removes once connected and libvirt therefore leaves alone, is
// opened to that group (0660), and the kernel, initramfs and payload
// disk are copied into it, because the cache they come from may sit in a home
// directory QEMU cannot enter, and relabelling private copies leaves the
// shared cache alone. The images stay where they are and as they are
// (libvirt is told not to relabel them): QEMU's user must be able to
// read them, and checkReadable says before boot when it cannot.
func stageBootFiles(spec appliance.MachineSpec, host hostFacts) (bootFiles, error) {
	// The uncompressed kernel boots through its PVH entry point, without
	// decompressing itself or the real-mode setup.
	kernel := spec.Kernel
	if spec.KernelELF != "" {
		kernel = spec.KernelELF
	}
	boot := bootFiles{kernel: kernel, initramfs: spec.Initramfs, payload: spec.Payload, consoleLog: filepath.Join(spec.Dir, "console.log")}
	if !host.runsAsOtherUser() {
		return boot, nil
	}
	if err := os.Chown(spec.Dir, -1, host.qemuGID); err != nil {
		return bootFiles{}, fmt.Errorf("appliance/libvirt: %w", err)
	}
	if err := os.Chmod(spec.Dir, 0o710); err != nil {
		return bootFiles{}, fmt.Errorf("appliance/libvirt: %w", err)
	}
	// Only QEMU's group may connect to the agent socket.
	if err := os.Chown(spec.AgentSocket, -1, host.qemuGID); err != nil {
		return bootFiles{}, fmt.Errorf("appliance/libvirt: %w", err)
	}
	if err := os.Chmod(spec.AgentSocket, 0o660); err != nil {
		return bootFiles{}, fmt.Errorf("appliance/libvirt: %w", err)
	}
	boot.kernel = filepath.Join(spec.Dir, "kernel")
	boot.initramfs = filepath.Join(spec.Dir, "initramfs")
	if err := copyFile(kernel, boot.kernel); err != nil {
		return bootFiles{}, err
	}
	if err := copyFile(spec.Initramfs, boot.initramfs); err != nil {
		return bootFiles{}, err
	}
	if spec.Payload != "" {
		boot.payload = filepath.Join(spec.Dir, "payload")
		if err := copyFile(spec.Payload, boot.payload); err != nil {
			return bootFiles{}, err
		}
	}
	groups := groupsOf(host.qemuUID, host.qemuGID)
	for _, d := range spec.Disks {
		if err := checkReadable(d.Base, host.qemuUID, groups); err != nil {
			return bootFiles{}, err
		}
	}
	return boot, nil
}

// copyFile copies src to a new file dst; io.Copy between files uses
// copy_file_range, which shares blocks where the filesystem can.
func copyFile(src, dst string) error {
	in, err := os.Open(src)
	if err != nil {
		return fmt.Errorf("appliance/libvirt: %w", err)
	}
	defer in.Close()
	out, err := os.OpenFile(dst, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return fmt.Errorf("appliance/libvirt: %w", err)
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return fmt.Errorf("appliance/libvirt: copying %s: %w", src, err)
	}
	if err := out.Close(); err != nil {
		return fmt.Errorf("appliance/libvirt: %w", err)
	}
	return nil
}

// groupsOf returns gid and the supplementary groups of user uid.
func groupsOf(uid, gid int) map[int]bool {
	groups := map[int]bool{gid: true}
	if u, err := user.LookupId(strconv.Itoa(uid)); err == nil {
		ids, _ := u.GroupIds()
		for _, id := range ids {
			if g, err := strconv.Atoi(id); err == nil {
				groups[g] = true
			}
		}
	}
	return groups
}

// checkReadable checks that user uid with groups may read path and
// search every directory above it, so that an image QEMU could not open
// is reported before boot, naming what is in the way. It reads the mode
// bits only; an ACL or a security module can still say no.
func checkReadable(path string, uid int, groups map[int]bool) error {
	if !permits(path, uid, groups, 0o4) {
		return &AccessError{Path: path, Blocker: path, UID: uid}
	}
	for dir := filepath.Dir(path); ; dir = filepath.Dir(dir) {
		if !permits(dir, uid, groups, 0o1) {
			return &AccessError{Path: path, Blocker: dir, UID: uid}
		}
		if dir == filepath.Dir(dir) {
			return nil
		}
	}
}

// permits reports whether uid with groups has the access bits want
// (4 read, 1 search) on path by its mode.
func permits(path string, uid int, groups map[int]bool, want fs.FileMode) bool {
	fi, err := os.Stat(path)
	if err != nil {
		return false
	}
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok {
		return true
	}
	perm := fi.Mode().Perm()
	switch {
	case int(st.Uid) == uid:
		return perm>>6&want == want
	case groups[int(st.Gid)]:
		return perm>>3&want == want
	default:
		return perm&want == want
	}
}
