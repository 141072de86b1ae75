package imagecheck

import (
	"fmt"
	"strings"
)

// QEMUFileName returns nil when QEMU 7.2, given name where it expects a
// file name — a qemu-img argument, -drive file=, a backing file name, or
// the filename of a {"driver": "file"} node in a json: or -blockdev spec —
// opens the file the host's file system knows by that name, and a
// *RejectionError with ReasonProtocolName when it would not:
//
//   - the name is empty or holds a NUL byte (QEMU would see a shorter one);
//   - a colon comes before the first slash, or there is a colon and no
//     slash: QEMU reads everything up to that colon as a protocol (file:,
//     json:{...}, nbd:, http:, fat:, and any other word, even an empty one),
//     as its path_has_protocol does;
//   - the name begins with /dev/fdset/: QEMU takes it from its fd sets
//     (-add-fd), whatever file the host has there;
//   - the name begins with /dev/cdrom: QEMU's host_device driver claims it
//     and refuses anything but a device.
//
// A relative name whose first component has a colon passes once it is
// written with a leading "./".
func QEMUFileName(name string) error {
	refuse := func(format string, args ...any) error {
		return &RejectionError{Reason: ReasonProtocolName, Path: name, Detail: fmt.Sprintf(format, args...)}
	}
	switch i := strings.IndexAny(name, ":/"); {
	case name == "":
		return refuse("empty name")
	case strings.IndexByte(name, 0) >= 0:
		return refuse("the name holds a NUL byte")
	case i >= 0 && name[i] == ':':
		return refuse("QEMU reads %q as a protocol prefix, not a file name (write ./%s for a file)", name[:i+1], name)
	case strings.HasPrefix(name, "/dev/fdset/"):
		return refuse("QEMU takes /dev/fdset/ names from its fd sets, not from the file system")
	case strings.HasPrefix(name, "/dev/cdrom"):
		return refuse("QEMU opens names beginning with /dev/cdrom with its host_device driver")
	}
	return nil
}

// dmgSuffix is the ending by which QEMU's dmg driver claims a file when it
// probes (dmg_probe compares it case-sensitively, and only when something
// precedes it; every name ending in it is refused here, since any other
// spelling of the same file, such as its absolute name, would be claimed).
const dmgSuffix = ".dmg"

// CheckName applies to name, the name a caller will hand QEMU, every rule
// CheckFile applies to names, without opening anything: QEMUFileName's,
// and, when declared is opened by QEMU's raw driver (raw, iso), that no
// QEMU driver claims the name when it probes — a file is raw only when no
// driver would claim it, by content or by name. A name that fails the
// second rule is refused with ReasonFormatMismatch.
//
// Check and Inspect see bytes, not names; a caller that checks a
// descriptor it opened itself calls CheckName on the name it gives QEMU.
func CheckName(name string, declared Format) error {
	if err := QEMUFileName(name); err != nil {
		return err
	}
	if qemuFormatName(declared) == "raw" && strings.HasSuffix(name, dmgSuffix) {
		return &RejectionError{Reason: ReasonFormatMismatch, Format: declared, Path: name,
			Detail: fmt.Sprintf("declared %s, but QEMU's dmg driver claims names ending in %q when it probes", declared, dmgSuffix)}
	}
	return nil
}
