package appliance_test

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/guestinject/guestinject/internal/testsupport/appliancetest"
)

func TestReadWriteCommitExt4(t *testing.T) {
	needE2E(t)
	dir := t.TempDir()
	tree := filepath.Join(dir, "tree")
	writeTree(t, tree, map[string]string{
		"etc/hostname":    "old-host\n",
		"etc/ssh/":        "",
		"root/":           "",
		"usr/share/doc/a": "doc\n",
	})
	img := filepath.Join(dir, "disk.raw")
	ext4Image(t, img, tree, 64)

	ctx, s := openRaw(t, img)
	appliancetest.ReadWriteCommit(ctx, t, s, img)
	if _, err := os.Stat(img); err != nil {
		t.Fatal(err)
	}
}
