package initramfs

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
)

// KernelEnv names the environment variable that chooses the kernel when
// no explicit one is given.
const KernelEnv = "GUESTINJECT_KERNEL"

// OwnKernelDir is the directory under the cache where
// scripts/build-kernel.sh installs the appliance's own kernel, laid out
// like a root filesystem: boot/vmlinuz-<version> and
// lib/modules/<version>/ (a modules.builtin and an empty modules.dep: it
// has every driver built in).
const OwnKernelDir = "kernel"

// ErrNoKernel means no usable kernel was found.
var ErrNoKernel = errors.New("no usable kernel")

// Kernel is a kernel image and the modules built for it.
type Kernel struct {
	Path       string // the bzImage
	Version    string // as in /lib/modules/<Version>
	ModulesDir string
	// Own is true for the appliance's own kernel, found under the cache's
	// OwnKernelDir.
	Own bool
}

// findKernel chooses the kernel: explicit, then $GUESTINJECT_KERNEL, then
// the newest of the appliance's own kernels in cache, then the newest
// /boot/vmlinuz-* whose modules are installed.
func findKernel(explicit, cache, bootDir, modulesRoot string) (*Kernel, error) {
	if explicit == "" {
		explicit = os.Getenv(KernelEnv)
	}
	if explicit != "" {
		return kernelAt(explicit, modulesRoot)
	}
	own := filepath.Join(cache, OwnKernelDir)
	if k, _ := newestKernel(filepath.Join(own, "boot"), filepath.Join(own, "lib", "modules")); k != nil {
		k.Own = true
		return k, nil
	}
	k, why := newestKernel(bootDir, modulesRoot)
	if k != nil {
		return k, nil
	}
	return nil, fmt.Errorf("initramfs: %w (set %s or pass a kernel): %s", ErrNoKernel, KernelEnv, strings.Join(why, "; "))
}

// HostKernel returns the newest /boot/vmlinuz-* whose modules are
// installed under /lib/modules: the kernel Build falls back to without an
// explicit one or the appliance's own.
func HostKernel() (*Kernel, error) {
	k, why := newestKernel("/boot", "/lib/modules")
	if k == nil {
		return nil, fmt.Errorf("initramfs: %w: %s", ErrNoKernel, strings.Join(why, "; "))
	}
	return k, nil
}

// newestKernel returns the newest bootDir/vmlinuz-* with modules under
// modulesRoot, or why there is none.
func newestKernel(bootDir, modulesRoot string) (*Kernel, []string) {
	paths, _ := filepath.Glob(filepath.Join(bootDir, "vmlinuz-*"))
	sort.Slice(paths, func(i, j int) bool { return versionLess(paths[j], paths[i]) })
	var why []string
	for _, p := range paths {
		k, err := kernelAt(p, modulesRoot)
		if err == nil {
			return k, nil
		}
		why = append(why, err.Error())
	}
	if len(paths) == 0 {
		why = append(why, "no "+filepath.Join(bootDir, "vmlinuz-*"))
	}
	return nil, why
}

// versionLess orders kernel file names by the numbers in their versions
// ("6.10.0-1" after "6.9.12-3"), then by name.
func versionLess(a, b string) bool {
	na, nb := versionNumbers(a), versionNumbers(b)
	for i := 0; i < len(na) && i < len(nb); i++ {
		if na[i] != nb[i] {
			return na[i] < nb[i]
		}
	}
	if len(na) != len(nb) {
		return len(na) < len(nb)
	}
	return a < b
}

func versionNumbers(p string) []int {
	var nums []int
	for f := range strings.FieldsFuncSeq(strings.TrimPrefix(filepath.Base(p), "vmlinuz-"), func(r rune) bool { return r < '0' || r > '9' }) {
		n, err := strconv.Atoi(f)
		if err != nil {
			n = 1 << 30
		}
		nums = append(nums, n)
	}
	return nums
}

// kernelAt checks the kernel image p is readable and finds its modules:
// in a tree laid out like a root filesystem (p's ../lib/modules/<version>,
// as OwnKernelDir is), else under modulesRoot.
func kernelAt(p, modulesRoot string) (*Kernel, error) {
	ver, err := bzImageVersion(p)
	if err != nil {
		return nil, err
	}
	beside := filepath.Join(filepath.Dir(p), "..", "lib", "modules", ver)
	if _, err := os.Stat(filepath.Join(beside, "modules.dep")); err == nil {
		return &Kernel{Path: p, Version: ver, ModulesDir: filepath.Clean(beside)}, nil
	}
	dir := filepath.Join(modulesRoot, ver)
	if _, err := os.Stat(filepath.Join(dir, "modules.dep")); err != nil {
		return nil, fmt.Errorf("kernel %s (version %s): no modules: %w", p, ver, err)
	}
	return &Kernel{Path: p, Version: ver, ModulesDir: dir}, nil
}

// bzImageVersion reads the version string from the x86 boot protocol
// header of a bzImage, so an explicit kernel need not be named after its
// version.
func bzImageVersion(p string) (string, error) {
	f, err := os.Open(p)
	if errors.Is(err, fs.ErrPermission) {
		return "", fmt.Errorf("kernel %s is not readable by uid %d (some distributions install kernels mode 0600; "+
			"make it readable, e.g. chmod 0644 %s, or point %s at a readable copy): %w", p, os.Getuid(), p, KernelEnv, err)
	}
	if err != nil {
		return "", fmt.Errorf("kernel: %w", err)
	}
	defer f.Close()
	hdr := make([]byte, 0x210)
	if _, err := f.ReadAt(hdr, 0); err != nil {
		return "", fmt.Errorf("kernel %s: reading boot header: %w", p, err)
	}
	if string(hdr[0x202:0x206]) != "HdrS" {
		return "", fmt.Errorf("kernel %s: not an x86 bzImage (no HdrS header)", p)
	}
	off := int64(binary.LittleEndian.Uint16(hdr[0x20E:])) + 0x200
	buf := make([]byte, 256)
	n, _ := f.ReadAt(buf, off)
	ver, _, _ := strings.Cut(string(buf[:n]), " ")
	if ver == "" || strings.ContainsAny(ver, "/\x00") {
		return "", fmt.Errorf("kernel %s: no version string in the boot header", p)
	}
	return ver, nil
}
