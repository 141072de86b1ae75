package testimage_test

import (
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/guestinject/guestinject/internal/blkid"
	"github.com/guestinject/guestinject/internal/testsupport/testimage"
)

func TestLVMImage(t *testing.T) {
	testimage.NeedLVM(t)
	dir := t.TempDir()
	tree := filepath.Join(dir, "tree")
	testimage.WriteTree(t, tree, map[string]string{"etc/hostname": "lvm\n"})
	img := filepath.Join(dir, "lvm.raw")
	vg := testimage.UniqueVG("gitest")
	testimage.LVM(t, img, vg,
		testimage.LogicalVolume{Name: "root", SizeMiB: 16, Label: "root", Tree: tree, Debugfs: "sif /etc/hostname uid 1000\n"},
		testimage.LogicalVolume{Name: "home-a", SizeMiB: 8})

	if got := testimage.LVDebugfs(t, img, vg, "root", "cat /etc/hostname"); got != "lvm\n" {
		t.Errorf("/etc/hostname on %s/root = %q", vg, got)
	}
	if got := testimage.LVDebugfs(t, img, vg, "root", "stat /etc/hostname"); !strings.Contains(got, "User:  1000") {
		t.Errorf("debugfs script not applied:\n%s", got)
	}
	f, err := os.Open(img)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	for _, c := range []struct {
		off  int64
		want blkid.Type
	}{
		{1 << 20, blkid.LVM2},
		{testimage.LVOffset(t, img, vg, "root"), blkid.Ext4},
		{testimage.LVOffset(t, img, vg, "home-a"), blkid.Ext4},
	} {
		info, err := blkid.Probe(io.NewSectionReader(f, c.off, 1<<30))
		if err != nil || info.Type != c.want {
			t.Errorf("at %d: %+v, %v; want %s", c.off, info, err, c.want)
		}
	}
}
