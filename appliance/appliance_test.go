package appliance_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/guestinject/guestinject/vfs"
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
	got, err := vfs.ReadFile(ctx, s, "/etc/hostname", 1<<10)
	if err != nil || string(got) != "old-host\n" {
		t.Fatalf("ReadFile(/etc/hostname) = %q, %v", got, err)
	}
	if err := s.WriteFile(ctx, "/etc/hostname", strings.NewReader("new-host\n"), vfs.WriteOptions{Perm: 0o644, UID: -1, GID: -1}); err != nil {
		t.Fatal(err)
	}
	if err := s.MkdirAll(ctx, "/root/.ssh", 0o700); err != nil {
		t.Fatalf("%v\n%s", err, s.Console())
	}
	key := "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIExample test@example\n"
	if err := s.WriteFile(ctx, "/root/.ssh/authorized_keys", strings.NewReader(key), vfs.WriteOptions{Perm: 0o600, UID: 0, GID: 0}); err != nil {
		t.Fatal(err)
	}
	if err := s.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	if got := debugfs(t, img, "cat /etc/hostname"); got != "new-host\n" {
		t.Errorf("debugfs cat /etc/hostname = %q", got)
	}
	if got := debugfs(t, img, "cat /root/.ssh/authorized_keys"); got != key {
		t.Errorf("debugfs cat authorized_keys = %q", got)
	}
	if st := debugfs(t, img, "stat /root/.ssh/authorized_keys"); !strings.Contains(st, "Mode:  0600") {
		t.Errorf("authorized_keys mode: %s", st)
	}
	if st := debugfs(t, img, "stat /root/.ssh"); !strings.Contains(st, "Mode:  0700") {
		t.Errorf(".ssh mode: %s", st)
	}
	if _, err := os.Stat(img); err != nil {
		t.Fatal(err)
	}
}
