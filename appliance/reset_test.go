package appliance_test

import (
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/guestinject/guestinject/inject"
)

// TestResetExt4 resets a used guest through the appliance and reads the
// committed image back with debugfs: the machine ID emptied with its mode
// kept, the host keys gone, a log truncated with its mode and a rotated
// one removed, /tmp emptied, a link out of /var/tmp removed as a link,
// and a FIFO in /var/log left alone.
func TestResetExt4(t *testing.T) {
	needE2E(t)
	dir := t.TempDir()
	tree := filepath.Join(dir, "tree")
	writeTree(t, tree, map[string]string{
		"etc/passwd":                       "root:x:0:0:root:/root:/bin/bash\n",
		"etc/machine-id":                   "0123456789abcdef0123456789abcdef\n",
		"etc/ssh/sshd_config":              "PermitRootLogin no\n",
		"etc/ssh/ssh_host_ed25519_key":     "PRIVATE\n",
		"etc/ssh/ssh_host_ed25519_key.pub": "ssh-ed25519 AAAA host\n",
		"var/log/syslog":                   "boot messages\n",
		"var/log/syslog.1":                 "older\n",
		"var/lib/dbus/":                    "",
		"tmp/build/obj.o":                  "x",
		"var/tmp/":                         "",
		"root/.bash_history":               "ls\n",
	})
	for p, mode := range map[string]os.FileMode{"etc/machine-id": 0o444, "var/log/syslog": 0o640} {
		if err := os.Chmod(filepath.Join(tree, p), mode); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Symlink("/etc/machine-id", filepath.Join(tree, "var/lib/dbus/machine-id")); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("/etc", filepath.Join(tree, "var/tmp/evil")); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Mkfifo(filepath.Join(tree, "var/log/xconsole"), 0o640); err != nil {
		t.Fatal(err)
	}
	img := filepath.Join(dir, "disk.raw")
	ext4Image(t, img, tree, 64)

	ctx, s := openRaw(t, img)
	rep, err := inject.Apply(ctx, s, inject.Spec{Reset: &inject.Reset{}})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	if len(rep.Changes) < 9 {
		t.Errorf("%d changes reported: %+v", len(rep.Changes), rep.Changes)
	}
	for _, c := range []struct{ request, want string }{
		{"cat /etc/machine-id", ""},
		{"cat /var/log/syslog", ""},
		{"cat /etc/passwd", "root:x:0:0:root:/root:/bin/bash\n"},
		{"cat /etc/ssh/sshd_config", "PermitRootLogin no\n"},
	} {
		if got := debugfs(t, img, c.request); got != c.want {
			t.Errorf("debugfs %s = %q, want %q", c.request, got, c.want)
		}
	}
	// ls -p prints /inode/mode/uid/gid/name/size/ per entry.
	for _, c := range []struct {
		dir          string
		want, absent []string
	}{
		{"/etc", []string{"/100444/0/0/machine-id/0/"}, nil},
		{"/etc/ssh", []string{"/sshd_config/"}, []string{"ssh_host_"}},
		{"/var/log", []string{"/100640/0/0/syslog/0/", "/010640/0/0/xconsole/"}, []string{"syslog.1"}},
		{"/var/lib/dbus", nil, []string{"machine-id"}},
		{"/tmp", nil, []string{"build"}},
		{"/var/tmp", nil, []string{"evil"}},
		{"/root", nil, []string{"bash_history"}},
	} {
		got := debugfs(t, img, "ls -p "+c.dir)
		for _, w := range c.want {
			if !strings.Contains(got, w) {
				t.Errorf("ls -p %s lacks %q:\n%s", c.dir, w, got)
			}
		}
		for _, a := range c.absent {
			if strings.Contains(got, a) {
				t.Errorf("ls -p %s still holds %q:\n%s", c.dir, a, got)
			}
		}
	}
}
