package libvirt_test

import (
	"os"
	"path/filepath"
	"syscall"
	"testing"

	applibvirt "github.com/guestinject/guestinject/appliance/libvirt"
	"github.com/guestinject/guestinject/internal/testsupport/libvirttest"
	"github.com/guestinject/guestinject/internal/testsupport/testimage"
	"github.com/guestinject/guestinject/vfs"
)

// needLibvirt makes sure libvirtd runs and an appliance can boot (see
// libvirttest.Need) and returns the launcher the tests use.
func needLibvirt(t testing.TB) applibvirt.Launcher {
	t.Helper()
	libvirttest.Need(t)
	return applibvirt.Launcher{URI: libvirttest.URI}
}

// imageDir returns a fresh directory QEMU's user can search.
func imageDir(t testing.TB) string {
	t.Helper()
	return libvirttest.ImageDir(t)
}

// ext4Image builds a raw ext4 image at img holding files.
func ext4Image(t testing.TB, img string, files map[string]string) {
	t.Helper()
	tree := filepath.Join(t.TempDir(), "tree")
	testimage.WriteTree(t, tree, files)
	testimage.Ext4(t, img, tree, 64)
}

func debugfs(t testing.TB, img, request string) string {
	t.Helper()
	return testimage.Run(t, "debugfs", "-R", request, img)
}

// rawDisk is the one-disk list most tests open.
func rawDisk(img string) []vfs.Disk {
	return []vfs.Disk{{Path: img, Format: "raw"}}
}

func statOwner(fi os.FileInfo) (uid, gid uint32) {
	st := fi.Sys().(*syscall.Stat_t)
	return st.Uid, st.Gid
}
