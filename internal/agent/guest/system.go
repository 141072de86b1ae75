package guest

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"strings"

	"golang.org/x/sys/unix"

	"github.com/guestinject/guestinject/internal/guestabi"
)

// MountPseudo mounts /proc, /sys and devtmpfs on /dev, each nosuid and
// noexec.
func MountPseudo() error {
	for _, m := range []struct {
		fstype, target string
		flags          uintptr
	}{
		{"proc", "/proc", unix.MS_NOSUID | unix.MS_NODEV | unix.MS_NOEXEC},
		{"sysfs", "/sys", unix.MS_NOSUID | unix.MS_NODEV | unix.MS_NOEXEC},
		{"devtmpfs", "/dev", unix.MS_NOSUID | unix.MS_NOEXEC},
	} {
		if err := os.MkdirAll(m.target, 0o755); err != nil {
			return err
		}
		if err := unix.Mount(m.fstype, m.target, m.fstype, m.flags, ""); err != nil && !errors.Is(err, unix.EBUSY) {
			return fmt.Errorf("mounting %s on %s: %w", m.fstype, m.target, err)
		}
	}
	return nil
}

// Modules is the module list of the initramfs, and the payload that
// holds every group but the core one. The zero value has no modules and
// no payload.
type Modules struct {
	List    []guestabi.Module
	Payload *Payload // nil: no payload manifest in the initramfs
}

// ReadModules reads the initramfs module list and the payload manifest,
// whose disk it opens only when a group is first needed.
func ReadModules() (Modules, error) {
	data, err := os.ReadFile(guestabi.ModuleListPath)
	if err != nil {
		return Modules{}, err
	}
	list, err := guestabi.ParseModuleList(data)
	if err != nil {
		return Modules{}, err
	}
	p, err := OpenPayloadManifest(guestabi.PayloadManifestPath, "/sys/block", "/dev", "/")
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return Modules{}, err
	}
	return Modules{List: list, Payload: p}, nil
}

// Load makes group's files present, from the payload when it holds the
// group, and loads its modules in list order. A module already loaded
// (shared by two groups) is fine.
func (m Modules) Load(group string) error {
	if err := m.Fetch(group); err != nil {
		return err
	}
	for _, mod := range m.List {
		if mod.Group != group {
			continue
		}
		if err := loadModule(mod.Path); err != nil {
			return err
		}
	}
	return nil
}

// Fetch copies group's files from the payload into the root once; a
// group the payload does not hold needs nothing.
func (m Modules) Fetch(group string) error {
	if m.Payload == nil || !m.Payload.Manifest.Has(group) {
		return nil
	}
	return m.Payload.Fetch(group)
}

// Has reports whether the payload holds group.
func (m Modules) Has(group string) bool {
	return m.Payload != nil && m.Payload.Manifest.Has(group)
}

func loadModule(path string) error {
	f, err := os.Open(path)
	if err != nil {
		return fmt.Errorf("loading module: %w", err)
	}
	defer f.Close()
	flags := 0
	if !strings.HasSuffix(path, ".ko") {
		// .ko.xz, .ko.zst, .ko.gz: the kernel decompresses them itself.
		flags |= unix.MODULE_INIT_COMPRESSED_FILE
	}
	if err := unix.FinitModule(int(f.Fd()), "", flags); err != nil && !errors.Is(err, unix.EEXIST) {
		return fmt.Errorf("loading module %s: %w", path, err)
	}
	return nil
}

// MountRoot mounts v on target with its explicit type, nodev and nosuid,
// read-only when readOnly, loading the filesystem's modules first. A
// non-empty subvol is the btrfs subvolume to mount instead of the
// default one.
func MountRoot(v Volume, subvol, target string, readOnly bool, mods Modules) error {
	flags := uintptr(unix.MS_NODEV | unix.MS_NOSUID)
	if readOnly {
		flags |= unix.MS_RDONLY
	}
	return mountVolume(v, target, flags, subvolOption(subvol), mods)
}

// vfatOptions mount FAT with everything the guest could otherwise leave
// to the kernel's defaults spelled out: files owned by root, 0644 and
// directories 0755 (FAT stores neither), short names in code page 437,
// long names as UTF-8.
const vfatOptions = "uid=0,gid=0,fmask=0022,dmask=0022,codepage=437,iocharset=ascii,utf8=1,shortname=mixed"

// fsOptions are the flags (beyond nodev and nosuid) and the data mount(2)
// gets for a filesystem type: the agent's choice, never the guest's
// fstab options. extra, when not "", is appended to the data (a btrfs
// subvolume).
//
// Every filesystem is mounted noatime: reading a guest file must not write
// its access time into the image. ext4 also gets noinit_itable, so that
// the kernel does not zero a fresh filesystem's inode tables in the
// background, writes the caller never asked for, and noauto_da_alloc:
// replacing a file by renaming a new one over it would otherwise start
// writing the new file's data at once (3-30 ms each under emulation), a
// guard for crashes that do not matter here, as nothing is kept before
// the session's sync and unmount.
func fsOptions(fstype, extra string) (uintptr, string) {
	flags := uintptr(unix.MS_NOATIME)
	var data []string
	if fstype == "ext4" {
		data = append(data, "noinit_itable", "noauto_da_alloc")
	}
	if fstype == "vfat" {
		// Every file on FAT would otherwise be executable.
		flags |= unix.MS_NOEXEC
		data = append(data, vfatOptions)
	}
	if extra != "" {
		data = append(data, extra)
	}
	return flags, strings.Join(data, ",")
}

// mountVolume mounts v on target with its explicit type, flags and the
// type's options, plus extra (see fsOptions).
func mountVolume(v Volume, target string, flags uintptr, extra string, mods Modules) error {
	fstype := v.Info.Type.MountType()
	if fstype == "" {
		return fmt.Errorf("%s: %s cannot be mounted", v.Device, v.Info.Type)
	}
	if err := mods.Load(fstype); err != nil {
		return err
	}
	if err := os.MkdirAll(target, 0o755); err != nil {
		return err
	}
	more, data := fsOptions(fstype, extra)
	if err := unix.Mount(v.Device, target, fstype, flags|more, data); err != nil {
		if errors.Is(err, unix.ENODEV) {
			return fmt.Errorf("mounting %s: the appliance kernel has no %s support: %w", v, fstype, err)
		}
		if extra != "" {
			return fmt.Errorf("mounting %s as %s with %s: %w", v, fstype, extra, err)
		}
		return fmt.Errorf("mounting %s as %s: %w", v, fstype, err)
	}
	return nil
}

// Unmount flushes and unmounts target.
func Unmount(target string) error {
	unix.Sync()
	if err := unix.Unmount(target, 0); err != nil {
		return fmt.Errorf("unmounting %s: %w", target, err)
	}
	return nil
}

// PowerOff flushes everything and powers the VM off. It returns only if
// the kernel refuses.
func PowerOff() error {
	unix.Sync()
	return unix.Reboot(unix.LINUX_REBOOT_CMD_POWER_OFF)
}

// Cmdline reads the kernel command line parameter name ("" when absent).
func Cmdline(name string) string {
	b, err := os.ReadFile("/proc/cmdline")
	if err != nil {
		return ""
	}
	for f := range strings.FieldsSeq(string(b)) {
		if k, v, _ := strings.Cut(f, "="); k == name {
			return v
		}
	}
	return ""
}
