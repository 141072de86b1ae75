package libvirt_test

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"

	"github.com/guestinject/guestinject/appliance"
	applibvirt "github.com/guestinject/guestinject/appliance/libvirt"
	"github.com/guestinject/guestinject/internal/testimage"
)

var (
	daemonsOnce sync.Once
	daemonsErr  error
)

// needLibvirt makes sure libvirtd and virtlogd run (starting them with
// scripts/start-libvirtd.sh when they do not) and that everything an
// appliance boot needs is installed. It skips the test when something is
// missing, or fails it under GUESTINJECT_E2E=1.
func needLibvirt(t testing.TB) applibvirt.Launcher {
	t.Helper()
	var missing []string
	for _, tool := range []string{"libvirtd", "virtlogd", "virsh", "qemu-system-x86_64", "qemu-img", "mkfs.ext4", "debugfs"} {
		if testimage.Tool(tool) == "" {
			missing = append(missing, tool)
		}
	}
	if kernels, _ := filepath.Glob("/boot/vmlinuz-*"); len(kernels) == 0 && os.Getenv("GUESTINJECT_KERNEL") == "" {
		missing = append(missing, "a kernel in /boot")
	}
	if os.Geteuid() != 0 {
		missing = append(missing, "root (for qemu:///system)")
	}
	testimage.Need(t, missing...)
	daemonsOnce.Do(func() {
		out, err := exec.Command("../../scripts/start-libvirtd.sh").CombinedOutput()
		if err != nil {
			daemonsErr = &startError{err: err, out: strings.TrimSpace(string(out))}
		}
	})
	if daemonsErr != nil {
		testimage.Need(t, "a running libvirtd: "+daemonsErr.Error())
	}
	return applibvirt.Launcher{URI: "qemu:///system"}
}

type startError struct {
	err error
	out string
}

func (e *startError) Error() string { return e.err.Error() + ": " + e.out }

// imageDir returns a fresh directory that QEMU's user (libvirt-qemu under
// qemu:///system) can search, for the images a test boots: t.TempDir
// makes its directories 0700.
func imageDir(t testing.TB) string {
	t.Helper()
	dir := t.TempDir()
	for d := dir; d != os.TempDir() && d != "/"; d = filepath.Dir(d) {
		if err := os.Chmod(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

// writeTree creates files (path -> content) under dir; a path ending in
// "/" is a directory.
func writeTree(t testing.TB, dir string, files map[string]string) {
	t.Helper()
	testimage.WriteTree(t, dir, files)
}

// ext4Image builds a raw ext4 image at img holding files.
func ext4Image(t testing.TB, img string, files map[string]string) {
	t.Helper()
	tree := filepath.Join(t.TempDir(), "tree")
	writeTree(t, tree, files)
	testimage.Ext4(t, img, tree, 64)
}

func debugfs(t testing.TB, img, request string) string {
	t.Helper()
	return testimage.Run(t, "debugfs", "-R", request, img)
}

// rawDisk is the one-disk list most tests open.
func rawDisk(img string) []appliance.Disk {
	return []appliance.Disk{{Path: img, Format: "raw"}}
}

func statOwner(fi os.FileInfo) (uid, gid uint32) {
	st := fi.Sys().(*syscall.Stat_t)
	return st.Uid, st.Gid
}
