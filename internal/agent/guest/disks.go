package guest

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"

	"golang.org/x/sys/unix"

	"github.com/guestinject/guestinject/internal/blkid"
	"github.com/guestinject/guestinject/internal/guestabi"
	"github.com/guestinject/guestinject/internal/parttable"
)

// Volume is a whole disk or a partition and what its superblock says.
type Volume struct {
	Device    string // device node, e.g. /dev/vda2
	Disk      int    // host's disk index
	ReadOnly  bool   // the host will not keep changes to this disk
	Partition int    // partition number; 0 for a whole disk
	LV        string // "vg/lv" for an LVM logical volume, else ""
	PartUUID  string // partition's PARTUUID from the partition table, "" when unknown
	PartLabel string // GPT partition name (PARTLABEL), "" when none
	Info      blkid.Info
	Err       error // why Info is unknown
}

func (v Volume) String() string {
	switch {
	case v.Err != nil && errors.Is(v.Err, blkid.ErrUnknown):
		return v.Device + " (unknown content)"
	case v.Err != nil:
		return fmt.Sprintf("%s (%v)", v.Device, v.Err)
	}
	s := fmt.Sprintf("%s (%s", v.Device, v.Info.Type)
	if v.Info.Label != "" {
		s += fmt.Sprintf(" %q", v.Info.Label)
	}
	return s + ")"
}

// ScanVolumes lists the virtio disks the host attached (those with a
// guestabi.DiskSerial) and, for a partitioned disk, its partitions
// instead of the disk itself, probing each for a filesystem. sysBlock is
// /sys/block and devDir /dev.
func ScanVolumes(sysBlock, devDir string) ([]Volume, error) {
	var vols []Volume
	for _, vd := range virtioDisks(sysBlock) {
		index, ro, ok := guestabi.ParseDiskSerial(vd.serial)
		if !ok {
			continue
		}
		dv, err := diskVolumes(vd.dir, devDir, index, ro)
		if err != nil {
			return nil, err
		}
		vols = append(vols, dv...)
	}
	sort.Slice(vols, func(i, j int) bool {
		if vols[i].Disk != vols[j].Disk {
			return vols[i].Disk < vols[j].Disk
		}
		return vols[i].Partition < vols[j].Partition
	})
	probeVolumes(vols)
	return vols, nil
}

// diskVolumes lists, unprobed, the volumes of the disk whose sysfs
// directory is dir: the disk itself, or its partitions when it has any.
func diskVolumes(dir, devDir string, index int, ro bool) ([]Volume, error) {
	name := filepath.Base(dir)
	parts, err := partitions(dir)
	if err != nil {
		return nil, err
	}
	if len(parts) == 0 {
		return []Volume{{Device: filepath.Join(devDir, name), Disk: index, ReadOnly: ro}}, nil
	}
	// The kernel does not tell PARTUUID and PARTLABEL without udev:
	// read them from the table, by partition number.
	table := readTable(filepath.Join(devDir, name))
	vols := make([]Volume, 0, len(parts))
	for _, p := range parts {
		vols = append(vols, Volume{Device: filepath.Join(devDir, p.name), Disk: index, ReadOnly: ro, Partition: p.number,
			PartUUID: table[p.number].UUID, PartLabel: table[p.number].Name})
	}
	return vols, nil
}

// probeVolumes reads what each volume's superblock says.
func probeVolumes(vols []Volume) {
	for i := range vols {
		vols[i].Info, vols[i].Err = probe(vols[i].Device)
	}
}

// virtioDisk is a virtio disk the kernel found, and the serial the host
// gave it.
type virtioDisk struct {
	dir    string // in sysBlock
	serial string
}

// virtioDisks lists the virtio disks in sysBlock (/sys/block) that have a
// serial: every disk the host attaches has one.
func virtioDisks(sysBlock string) []virtioDisk {
	dirs, _ := filepath.Glob(filepath.Join(sysBlock, "vd*"))
	var disks []virtioDisk
	for _, d := range dirs {
		if serial, err := os.ReadFile(filepath.Join(d, "serial")); err == nil {
			disks = append(disks, virtioDisk{dir: d, serial: strings.TrimSpace(string(serial))})
		}
	}
	return disks
}

type partition struct {
	name   string
	number int
}

// partitions lists the partitions the kernel found on the disk whose
// sysfs directory is dir: subdirectories named after the disk (vda1,
// nvme0n1p1) with a "partition" file. Only those are opened: under
// emulation each of the other two dozen entries would cost a failed open.
func partitions(dir string) ([]partition, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	disk := filepath.Base(dir)
	var parts []partition
	for _, e := range entries {
		if !e.IsDir() || !strings.HasPrefix(e.Name(), disk) {
			continue
		}
		num, err := os.ReadFile(filepath.Join(dir, e.Name(), "partition"))
		if err != nil {
			continue
		}
		n, err := strconv.Atoi(strings.TrimSpace(string(num)))
		if err != nil {
			continue
		}
		parts = append(parts, partition{name: e.Name(), number: n})
	}
	return parts, nil
}

// readTable reads the partition table of the disk dev, by partition
// number; nil when it cannot be read.
func readTable(dev string) map[int]parttable.Partition {
	f, err := os.Open(dev)
	if err != nil {
		return nil
	}
	defer f.Close()
	size, err := f.Seek(0, io.SeekEnd)
	if err != nil {
		return nil
	}
	t, err := parttable.Read(f, size)
	if err != nil {
		return nil
	}
	m := make(map[int]parttable.Partition, len(t.Partitions))
	for _, p := range t.Partitions {
		m[p.Number] = p
	}
	return m
}

func probe(dev string) (blkid.Info, error) {
	f, err := os.Open(dev)
	if err != nil {
		return blkid.Info{}, err
	}
	defer f.Close()
	return blkid.Probe(f)
}

func listVolumes(vols []Volume) string {
	if len(vols) == 0 {
		return "none"
	}
	s := make([]string, len(vols))
	for i, v := range vols {
		s[i] = v.String()
	}
	return strings.Join(s, ", ")
}

// FindPort returns the device node of the virtio-serial port called name,
// or "" when there is none yet. classDir is /sys/class/virtio-ports.
func FindPort(classDir, devDir, name string) string {
	ports, _ := filepath.Glob(filepath.Join(classDir, "*", "name"))
	for _, p := range ports {
		if b, err := os.ReadFile(p); err == nil && strings.TrimSpace(string(b)) == name {
			return filepath.Join(devDir, filepath.Base(filepath.Dir(p)))
		}
	}
	return ""
}

// HotplugDisksReady reports whether every disk of a hot-plugged set is
// there and its driver done with it: some virtio disk carries a
// guestabi.HotplugDiskSerial, and for its count, each index below it is
// on exactly one disk with that count. A disk counts once its virtio
// device is bound to its driver, which happens after the driver has added
// the disk and read its partition table, so ScanVolumes then sees it
// whole. sysBlock is /sys/block.
func HotplugDisksReady(sysBlock string) bool {
	count := 0
	seen := map[int]bool{}
	for _, d := range virtioDisks(sysBlock) {
		index, n, _, ok := guestabi.ParseHotplugDiskSerial(d.serial)
		if !ok || n == 0 {
			continue
		}
		if (count != 0 && n != count) || seen[index] {
			return false // not one set: the host never does this
		}
		if _, err := os.Stat(filepath.Join(d.dir, "device", "driver")); err != nil {
			return false
		}
		count, seen[index] = n, true
	}
	return count > 0 && len(seen) == count
}

// WaitHotplugDisks waits at most limit for HotplugDisksReady(sysBlock).
// It sleeps on the kernel's device events (a uevent netlink socket) and
// looks again at each, so an idle pooled VM costs no CPU and a disk is
// seen as soon as its driver is bound; it also looks once a second, in
// case an event was missed.
func WaitHotplugDisks(sysBlock string, limit time.Duration) error {
	deadline := time.Now().Add(limit)
	fd, err := unix.Socket(unix.AF_NETLINK, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC|unix.SOCK_NONBLOCK, unix.NETLINK_KOBJECT_UEVENT)
	if err == nil {
		defer unix.Close(fd)
		if err = unix.Bind(fd, &unix.SockaddrNetlink{Family: unix.AF_NETLINK, Groups: 1}); err != nil {
			unix.Close(fd)
			fd = -1
		}
	} else {
		fd = -1
	}
	buf := make([]byte, 8192)
	for {
		if HotplugDisksReady(sysBlock) {
			return nil
		}
		left := time.Until(deadline)
		if left <= 0 {
			return fmt.Errorf("no hot-plugged disks after %v", limit)
		}
		wait := min(left, time.Second)
		if fd < 0 {
			time.Sleep(min(wait, 5*time.Millisecond))
			continue
		}
		pfd := []unix.PollFd{{Fd: int32(fd), Events: unix.POLLIN}}
		if _, err := unix.Poll(pfd, int(wait/time.Millisecond)+1); err != nil && !errors.Is(err, unix.EINTR) {
			time.Sleep(5 * time.Millisecond)
		}
		// Drain: what the events say does not matter, sysfs does.
		for {
			if _, _, err := unix.Recvfrom(fd, buf, unix.MSG_DONTWAIT); err != nil {
				break
			}
		}
	}
}
