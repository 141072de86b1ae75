package btrfsimage

import (
	"path/filepath"
	"strings"
	"testing"

	"github.com/guestinject/guestinject/internal/testsupport/testimage"
)

func TestBuild(t *testing.T) {
	Need(t)
	dir := t.TempDir()
	a, b := filepath.Join(dir, "a"), filepath.Join(dir, "b")
	testimage.WriteTree(t, a, map[string]string{"etc/os-release": "ID=a\n"})
	testimage.WriteTree(t, b, map[string]string{"x/y": "b\n"})
	img := filepath.Join(dir, "img")
	Build(t, img, "0c0ffee0-0000-4000-8000-0000000000bf", 128, Subvolume{"@", a}, Subvolume{"@home", b})
	roots := testimage.Run(t, "btrfs", "inspect-internal", "dump-tree", "-t", "root", img)
	for _, want := range []string{"(256 ROOT_ITEM", "(257 ROOT_ITEM", "(256 ROOT_BACKREF 5)", "name @home"} {
		if !strings.Contains(roots, want) {
			t.Errorf("root tree has no %q:\n%s", want, roots)
		}
	}
	if got := ReadFile(t, img, "/@/etc/os-release"); got != "ID=a\n" {
		t.Errorf("/@/etc/os-release = %q", got)
	}
	if got := ReadFile(t, img, "/@home/x/y"); got != "b\n" {
		t.Errorf("/@home/x/y = %q", got)
	}
	if top := testimage.Run(t, "btrfs", "inspect-internal", "dump-tree", "-t", "5", img); strings.Contains(top, ".trees") {
		t.Errorf("the staging directory is still at the top level")
	}
}
