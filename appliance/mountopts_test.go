package appliance_test

import (
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/guestinject/guestinject/vfs"
)

// A session changes only what it was asked to: reading a file leaves its
// access time alone (the agent mounts noatime), read back with debugfs
// after Commit.
func TestReadingLeavesAccessTimes(t *testing.T) {
	needE2E(t)
	dir := t.TempDir()
	writeTree(t, filepath.Join(dir, "tree"), map[string]string{"etc/hostname": "old\n", "etc/passwd": "root:x:0:0::/root:/bin/sh\n"})
	img := filepath.Join(dir, "disk.raw")
	ext4Image(t, img, filepath.Join(dir, "tree"), 64)
	atime := regexp.MustCompile(`(?m)^ atime: (0x[0-9a-f]+:[0-9a-f]+)`)
	stat := func() string {
		m := atime.FindStringSubmatch(debugfs(t, img, "stat /etc/passwd"))
		if m == nil {
			t.Fatal("debugfs shows no atime of /etc/passwd")
		}
		return m[1]
	}
	before := stat()
	ctx, s := openRaw(t, img)
	if _, err := vfs.ReadFile(ctx, s, "/etc/passwd", 1<<20); err != nil {
		t.Fatal(err)
	}
	if err := s.WriteFile(ctx, "/etc/hostname", strings.NewReader("new\n"), vfs.WriteOptions{Perm: 0o644}); err != nil {
		t.Fatal(err)
	}
	if err := s.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	if got := debugfs(t, img, "cat /etc/hostname"); got != "new\n" {
		t.Fatalf("hostname %q after Commit", got)
	}
	if after := stat(); after != before {
		t.Errorf("reading /etc/passwd changed its atime from %s to %s", before, after)
	}
}
