package guest_test

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/guestinject/guestinject/internal/agent/guest"
	"github.com/guestinject/guestinject/internal/inroot"
	"github.com/guestinject/guestinject/internal/testsupport/testimage"
)

// A guest mount point that is a symlink out of the root, or a ".." climb,
// lands inside the root; UnmountAll takes every mount down.
func TestMountInRootStaysInside(t *testing.T) {
	if os.Geteuid() != 0 {
		testimage.Need(t, "root (to mount tmpfs)")
	}
	dir := t.TempDir()
	root, outside := filepath.Join(dir, "root"), filepath.Join(dir, "outside")
	testimage.WriteTree(t, dir, map[string]string{"root/home/": "", "root/outside/": "", "outside/": ""})
	if err := os.Symlink("/../../../outside", filepath.Join(root, "evil")); err != nil {
		t.Fatal(err)
	}
	r, err := inroot.Open(root)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	ctx := context.Background()
	var m guest.Mounts
	for target, want := range map[string]string{"/home": "/home", "/evil": "/outside"} {
		got, err := m.MountInRoot(ctx, r, target, "tmpfs", "tmpfs", unix.MS_NODEV|unix.MS_NOSUID, "")
		if err != nil || got != want {
			t.Errorf("MountInRoot(%s) = %q, %v; want %q", target, got, err, want)
		}
	}
	if _, err := m.MountInRoot(ctx, r, "/missing", "tmpfs", "tmpfs", 0, ""); err == nil {
		t.Error("mounted on a missing directory")
	}
	if err := os.WriteFile(filepath.Join(root, "outside", "f"), []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	if entries, _ := os.ReadDir(outside); len(entries) != 0 {
		t.Errorf("something landed outside the root: %v", entries)
	}
	if err := m.UnmountAll(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(root, "outside", "f")); !os.IsNotExist(err) {
		t.Errorf("still mounted after UnmountAll: %v", err)
	}
}
