package initramfs

import (
	"bufio"
	"bytes"
	"fmt"
	"strings"
)

// ModuleListPath is where the archive lists its kernel modules.
const ModuleListPath = "/etc/guestinject/modules"

// CoreGroup names the modules the agent loads at boot; other groups are
// named after the filesystem type (as mount(2) spells it) they serve and
// are loaded only when a superblock asks for them.
const CoreGroup = "core"

// Module is one line of the module list: a module file to load for group.
// Within a group, lines are in load order (dependencies first).
type Module struct {
	Group string
	Path  string // absolute path inside the initramfs
}

// maxModuleList bounds the list the agent parses.
const maxModuleList = 64 << 10

// ParseModuleList parses the module list: one "group path" per line.
func ParseModuleList(data []byte) ([]Module, error) {
	if len(data) > maxModuleList {
		return nil, fmt.Errorf("initramfs: module list of %d bytes is too large", len(data))
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
			return nil, fmt.Errorf("initramfs: module list line %d: malformed %q", n, line)
		}
		mods = append(mods, Module{Group: group, Path: path})
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("initramfs: module list: %w", err)
	}
	return mods, nil
}

func formatModuleList(mods []Module) []byte {
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
