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

// ParseDiskSerial reads a serial made by DiskSerial; ok is false for any
// other string, so disks the host did not attach are ignored.
func ParseDiskSerial(s string) (index int, readOnly, ok bool) {
	var rest string
	switch {
	case strings.HasPrefix(s, serialWritable):
		rest = s[len(serialWritable):]
	case strings.HasPrefix(s, serialReadOnly):
		rest, readOnly = s[len(serialReadOnly):], true
	default:
		return 0, false, false
	}
	index, err := strconv.Atoi(rest)
	if err != nil || index < 0 || strconv.Itoa(index) != rest {
		return 0, false, false
	}
	return index, readOnly, true
}
