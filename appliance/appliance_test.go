package appliance_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/guestinject/guestinject/appliance"
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
	if !appliance.HasMonitor(s) {
		t.Error("a session of the direct launcher holds no QEMU monitor")
	}
	appliancetest.ReadWriteCommit(ctx, t, s, img)
	if _, err := os.Stat(img); err != nil {
		t.Fatal(err)
	}
	checkStoppedByMonitor(t, s)
}

// checkStoppedByMonitor fails t when the committed session's guest
// powered off by itself: Commit stops QEMU through its monitor once the
// agent has unmounted, and the agent powers off only when the host hangs
// up, which Commit does after that, or two seconds after its answer.
func checkStoppedByMonitor(t *testing.T, s *appliance.Session) {
	t.Helper()
	if strings.Contains(s.Console(), "reboot: Power down") {
		t.Errorf("the guest powered off by itself after Commit; console tail:\n%s", appliance.LastLines(s.Console(), 10))
	}
}
