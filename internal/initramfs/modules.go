package initramfs

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"path"
	"path/filepath"
	"strings"

	"github.com/guestinject/guestinject/internal/guestabi"
)

// moduleGroups says which modules each group needs; their dependencies
// are added from modules.dep. Core must exist (built in or as modules);
// a filesystem the kernel lacks is left out and fails at mount time.
var moduleGroups = []moduleGroup{
	{guestabi.CoreGroup, []string{"virtio_pci", "virtio_blk", "virtio_console"}, true},
	{"ext4", []string{"ext4"}, false},
	{"xfs", []string{"xfs"}, false},
	{"btrfs", []string{"btrfs"}, false},
	// The agent mounts FAT with codepage=437 and iocharset=ascii (long
	// names still UTF-8 through utf8=1), so exactly these NLS tables.
	{"vfat", []string{"vfat", "nls_cp437", "nls_ascii"}, false},
	// Loaded only for a session with the package network.
	{guestabi.NetGroup, []string{"virtio_net"}, false},
}

// ModuleGroup names kernel modules an initramfs holds beyond the
// appliance's, listed under Group in its module list (their dependencies
// too, in load order).
type ModuleGroup struct {
	Group   string
	Modules []string
}

type moduleGroup struct {
	group    string
	modules  []string
	required bool
}

// moduleName is the kernel's name of a module file: no directory, no
// ".ko" or compression suffix, dashes as underscores.
func moduleName(file string) string {
	base := path.Base(file)
	if i := strings.Index(base, ".ko"); i >= 0 {
		base = base[:i]
	}
	return strings.ReplaceAll(base, "-", "_")
}

// kernelModules is what a kernel's modules directory says about its
// modules.
type kernelModules struct {
	dir     string
	files   map[string]string   // name -> path relative to dir
	deps    map[string][]string // name -> names it needs
	builtin map[string]bool
}

func readKernelModules(dir string) (*kernelModules, error) {
	km := &kernelModules{dir: dir, files: map[string]string{}, deps: map[string][]string{}, builtin: map[string]bool{}}
	dep, err := os.ReadFile(filepath.Join(dir, "modules.dep"))
	if err != nil {
		return nil, fmt.Errorf("initramfs: %w", err)
	}
	sc := bufio.NewScanner(bytes.NewReader(dep))
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		file, rest, ok := strings.Cut(sc.Text(), ":")
		if !ok {
			continue
		}
		name := moduleName(file)
		km.files[name] = file
		for d := range strings.FieldsSeq(rest) {
			km.deps[name] = append(km.deps[name], moduleName(d))
			if _, seen := km.files[moduleName(d)]; !seen {
				km.files[moduleName(d)] = d
			}
		}
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("initramfs: reading modules.dep: %w", err)
	}
	// modules.builtin is optional: kernels with every module loadable
	// have none.
	if b, err := os.ReadFile(filepath.Join(dir, "modules.builtin")); err == nil {
		for line := range strings.Lines(string(b)) {
			if line = strings.TrimSpace(line); line != "" {
				km.builtin[moduleName(line)] = true
			}
		}
	}
	return km, nil
}

// loadOrder returns the module files name needs, dependencies first, each
// once; built-in modules need nothing. ok is false when the kernel has
// name neither built in nor as a module.
func (km *kernelModules) loadOrder(name string) (files []string, ok bool) {
	if km.builtin[name] {
		return nil, true
	}
	if _, ok := km.files[name]; !ok {
		return nil, false
	}
	seen := map[string]bool{}
	var visit func(string)
	visit = func(n string) {
		if seen[n] || km.builtin[n] {
			return
		}
		seen[n] = true
		for _, d := range km.deps[n] {
			visit(d)
		}
		if f, ok := km.files[n]; ok {
			files = append(files, f)
		}
	}
	visit(name)
	return files, true
}

// plan lists the modules for every group, with the host files to copy
// (archive path -> host path).
func (km *kernelModules) plan(groups []moduleGroup) ([]guestabi.Module, map[string]string, error) {
	var mods []guestabi.Module
	copies := map[string]string{}
	for _, g := range groups {
		inGroup := map[string]bool{}
		for _, name := range g.modules {
			files, ok := km.loadOrder(name)
			if !ok {
				if g.required {
					return nil, nil, fmt.Errorf("initramfs: kernel modules in %s have no %s, built in or loadable", km.dir, name)
				}
				continue
			}
			for _, f := range files {
				archive := "/lib/modules/" + path.Base(f)
				if inGroup[archive] {
					continue
				}
				inGroup[archive] = true
				copies[archive] = filepath.Join(km.dir, f)
				mods = append(mods, guestabi.Module{Group: g.group, Path: archive})
			}
		}
	}
	return mods, copies, nil
}
