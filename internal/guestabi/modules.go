package guestabi

import (
	"bufio"
	"bytes"
	"fmt"
	"strings"
)

// ModuleListPath is where the initramfs lists its kernel modules, which
// the initramfs builder writes with FormatModuleList and the agent reads
// with ParseModuleList.
const ModuleListPath = "/etc/guestinject/modules"

// Module groups. CoreGroup names the modules the agent loads at boot,
// DMGroup the device-mapper modules it loads only when it meets an LVM
// physical volume; every other group is named after the filesystem type
// (as mount(2) spells it) it serves, and is loaded only when a superblock
// asks for it.
const (
	CoreGroup = "core"
	DMGroup   = "dm"
)

// The LVM tools, which the initramfs carries only when the host has them.
const (
	// LVMBinary is where the initramfs holds lvm(8); the agent takes its
	// absence for ErrNoLVMTools.
	LVMBinary = "/lvm/bin/lvm"
	// LVMLibDir holds the libraries lvm needs; the agent runs lvm with
	// LD_LIBRARY_PATH set to it. The dynamic loader is at the path the
	// binary names (PT_INTERP), since the kernel looks for it there.
	LVMLibDir = "/lvm/lib"
)

// Module is one line of the module list: a module file to load for group.
// Within a group, lines are in load order (dependencies first).
type Module struct {
	Group string
	Path  string // absolute path inside the initramfs, under /lib/modules/
}

// maxModuleList bounds the list the agent parses.
const maxModuleList = 64 << 10

// ParseModuleList parses the module list: one "group path" per line.
func ParseModuleList(data []byte) ([]Module, error) {
	if len(data) > maxModuleList {
		return nil, fmt.Errorf("initramfs module list of %d bytes is too large", len(data))
	}
	var mods []Module
	sc := bufio.NewScanner(bytes.NewReader(data))
	for n := 1; sc.Scan(); n++ {
		line := sc.Text()
		if line == "" {
			continue
		}
		group, path, ok := strings.Cut(line, " ")
		if !ok || group == "" || hasSpaceOrControl(group) || !strings.HasPrefix(path, "/lib/modules/") ||
			hasSpaceOrControl(path) || strings.Contains(path, "/..") {
			return nil, fmt.Errorf("initramfs module list line %d: malformed %q", n, line)
		}
		mods = append(mods, Module{Group: group, Path: path})
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("initramfs module list: %w", err)
	}
	return mods, nil
}

// FormatModuleList writes the module list ParseModuleList reads.
func FormatModuleList(mods []Module) []byte {
	var b bytes.Buffer
	for _, m := range mods {
		fmt.Fprintf(&b, "%s %s\n", m.Group, m.Path)
	}
	return b.Bytes()
}

// hasSpaceOrControl reports whether s holds a blank or a control character
// (a stray "\r" included), which no module group or path has.
func hasSpaceOrControl(s string) bool {
	return strings.IndexFunc(s, func(r rune) bool { return r <= ' ' || r == 0x7f }) >= 0
}
