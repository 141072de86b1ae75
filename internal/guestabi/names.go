package guestabi

import (
	"strconv"
	"strings"
)

// PortName is the name of the virtio-serial port the agent serves on; the
// host names the port, the agent finds it by that name in sysfs.
const PortName = "org.guestinject.agent.0"

// DebugParam is the kernel command line parameter that, set to DebugOn,
// makes the agent print the time each setup step took to the console.
const (
	DebugParam = "guestinject.debug"
	DebugOn    = "1"
)

// Disk serials tell the agent which disk is which and whether it may be
// written: "gi-rw-<index>" or "gi-ro-<index>", the index being the disk's
// position in the host's list. QEMU sets the serial, so no image content
// can forge one.
const (
	serialWritable = "gi-rw-"
	serialReadOnly = "gi-ro-"
)

// DiskSerial is the serial the host gives disk number index.
func DiskSerial(index int, readOnly bool) string {
	if readOnly {
		return serialReadOnly + strconv.Itoa(index)
	}
	return serialWritable + strconv.Itoa(index)
}

// ParseDiskSerial reads a serial made by DiskSerial or HotplugDiskSerial;
// ok is false for any other string, so disks the host did not attach are
// ignored.
func ParseDiskSerial(s string) (index int, readOnly, ok bool) {
	index, _, readOnly, ok = ParseHotplugDiskSerial(s)
	return index, readOnly, ok
}

// MaxHotplugDisks bounds the disk count a hot-plug serial may announce.
const MaxHotplugDisks = 64

// hotplugCount separates a hot-plugged disk's index from the session's
// disk count.
const hotplugCount = "-of-"

// HotplugDiskSerial is the serial the host gives disk number index of
// count when it hot-plugs them into a VM that booted without disks
// ("gi-rw-<index>-of-<count>"): every disk tells the agent how many to
// wait for, so it starts only once all have arrived.
func HotplugDiskSerial(index, count int, readOnly bool) string {
	return DiskSerial(index, readOnly) + hotplugCount + strconv.Itoa(count)
}

// ParseHotplugDiskSerial reads a serial made by DiskSerial (count 0) or
// HotplugDiskSerial (index below count, count at most MaxHotplugDisks).
func ParseHotplugDiskSerial(s string) (index, count int, readOnly, ok bool) {
	var rest string
	switch {
	case strings.HasPrefix(s, serialWritable):
		rest = s[len(serialWritable):]
	case strings.HasPrefix(s, serialReadOnly):
		rest, readOnly = s[len(serialReadOnly):], true
	default:
		return 0, 0, false, false
	}
	rest, countText, hot := strings.Cut(rest, hotplugCount)
	index, ok = decimal(rest)
	if !ok {
		return 0, 0, false, false
	}
	if hot {
		if count, ok = decimal(countText); !ok || count > MaxHotplugDisks || index >= count {
			return 0, 0, false, false
		}
	}
	return index, count, readOnly, true
}

// decimal reads a non-negative number written without sign or leading
// zeros.
func decimal(s string) (int, bool) {
	n, err := strconv.Atoi(s)
	if err != nil || n < 0 || strconv.Itoa(n) != s {
		return 0, false
	}
	return n, true
}
