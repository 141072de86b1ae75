// Package libvirttest is what the tests of the libvirt launcher and of
// the programs built on it share: a running libvirtd (started with
// scripts/start-libvirtd.sh when it is not), image directories the QEMU
// user can search, and throwaway persistent domains. It links libvirt
// itself (cgo) but not the launcher, so importing it keeps
// appliance/libvirt the module's only importer of the launcher.
package libvirttest

import (
	"crypto/rand"
	"encoding/hex"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"libvirt.org/go/libvirt"
	"libvirt.org/go/libvirtxml"

	"github.com/guestinject/guestinject/internal/testsupport/testimage"
)

// URI is the connection the tests use: the system daemon, whose QEMU
// runs as its own user, the confinement the launcher must get right.
const URI = "qemu:///system"

var (
	daemonsOnce sync.Once
	daemonsErr  error
)

// Need makes sure libvirtd and virtlogd run, starting them with
// scripts/start-libvirtd.sh when they do not, and that everything an
// appliance boot needs is installed. It skips t when something is
// missing, or fails it under GUESTINJECT_E2E=1.
func Need(t testing.TB) {
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
		missing = append(missing, "root (for "+URI+")")
	}
	testimage.Need(t, missing...)
	daemonsOnce.Do(func() {
		out, err := exec.Command(startScript()).CombinedOutput()
		if err != nil {
			daemonsErr = &startError{err: err, out: strings.TrimSpace(string(out))}
		}
	})
	if daemonsErr != nil {
		testimage.Need(t, "a running libvirtd: "+daemonsErr.Error())
	}
}

// startScript is scripts/start-libvirtd.sh of the module whose package
// is being tested: go test runs a test binary in its package's directory,
// so the module root is the nearest directory above it with a go.mod.
func startScript() string {
	dir, err := os.Getwd()
	if err != nil {
		return "scripts/start-libvirtd.sh"
	}
	for d := dir; ; d = filepath.Dir(d) {
		if _, err := os.Stat(filepath.Join(d, "go.mod")); err == nil {
			return filepath.Join(d, "scripts", "start-libvirtd.sh")
		}
		if d == filepath.Dir(d) {
			return filepath.Join(dir, "scripts", "start-libvirtd.sh")
		}
	}
}

type startError struct {
	err error
	out string
}

func (e *startError) Error() string { return e.err.Error() + ": " + e.out }

// ImageDir returns a fresh directory that QEMU's user (libvirt-qemu under
// qemu:///system) can search, for the images a test boots: t.TempDir
// makes its directories 0700.
func ImageDir(t testing.TB) string {
	t.Helper()
	dir := t.TempDir()
	Searchable(t, dir)
	return dir
}

// Searchable opens dir, a directory of t.TempDir's, and the directories
// above it up to the temporary directory to everyone (0755), so QEMU's
// user can reach the images in it.
func Searchable(t testing.TB, dir string) {
	t.Helper()
	for d := dir; d != os.TempDir() && d != "/"; d = filepath.Dir(d) {
		if err := os.Chmod(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
}

// Disk is a disk of a test domain: an image and the format its
// <driver type> declares.
type Disk struct {
	Path, Format string
}

// DefineDomain defines a persistent, shut-off domain on URI with the
// disks given, as vda, vdb, ..., after an install CD-ROM (which holds no
// guest system), and undefines it, destroying it first if it runs, when
// the test ends. It returns the domain's unique name and the domain.
func DefineDomain(t testing.TB, disks ...Disk) (string, *libvirt.Domain) {
	t.Helper()
	conn, err := libvirt.NewConnect(URI)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	var b [6]byte
	rand.Read(b[:])
	name := "guestinject-test-" + hex.EncodeToString(b[:])
	def := libvirtxml.Domain{
		Type:   "qemu",
		Name:   name,
		Memory: &libvirtxml.DomainMemory{Value: 64, Unit: "MiB"},
		OS:     &libvirtxml.DomainOS{Type: &libvirtxml.DomainOSType{Arch: "x86_64", Machine: "q35", Type: "hvm"}},
		Devices: &libvirtxml.DomainDeviceList{
			Disks: []libvirtxml.DomainDisk{{Device: "cdrom", Driver: &libvirtxml.DomainDiskDriver{Name: "qemu", Type: "raw"},
				Target: &libvirtxml.DomainDiskTarget{Dev: "sda", Bus: "sata"}, ReadOnly: &libvirtxml.DomainDiskReadOnly{}}},
		},
	}
	for i, d := range disks {
		def.Devices.Disks = append(def.Devices.Disks, libvirtxml.DomainDisk{
			Device: "disk",
			Driver: &libvirtxml.DomainDiskDriver{Name: "qemu", Type: d.Format},
			Source: &libvirtxml.DomainDiskSource{File: &libvirtxml.DomainDiskSourceFile{File: d.Path}},
			Target: &libvirtxml.DomainDiskTarget{Dev: "vd" + string(rune('a'+i)), Bus: "virtio"},
		})
	}
	domXML, err := def.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	dom, err := conn.DomainDefineXML(domXML)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if active, _ := dom.IsActive(); active {
			dom.Destroy()
		}
		if err := dom.Undefine(); err != nil {
			t.Errorf("undefining %s: %v", name, err)
		}
		dom.Free()
	})
	return name, dom
}
