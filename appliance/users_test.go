package appliance_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/guestinject/guestinject/inject"
)

// TestUsersExt4 creates a user with a home from /etc/skel through the
// appliance, with a key and the time zone in the same Spec, and reads the
// committed image back with debugfs: the account lines, the copied skel
// files owned by the new uid, and the zone link.
func TestUsersExt4(t *testing.T) {
	needE2E(t)
	dir := t.TempDir()
	tree := filepath.Join(dir, "tree")
	writeTree(t, tree, map[string]string{
		"etc/passwd":                     "root:x:0:0:root:/root:/bin/bash\n",
		"etc/group":                      "root:x:0:\nwheel:x:10:\n",
		"etc/shadow":                     "root:*:19000:0:99999:7:::\n",
		"etc/login.defs":                 "UID_MIN 2000\nUID_MAX 60000\nGID_MIN 2000\nGID_MAX 60000\nHOME_MODE 0750\n",
		"etc/skel/.profile":              "# profile\n",
		"etc/skel/.config/app.conf":      "x=1\n",
		"usr/share/zoneinfo/Europe/Oslo": "TZif2",
		"home/":                          "",
		"root/":                          "",
	})
	// inject refuses a world-readable shadow file, as a guest would have
	// a broken one.
	if err := os.Chmod(filepath.Join(tree, "etc/shadow"), 0o640); err != nil {
		t.Fatal(err)
	}
	img := filepath.Join(dir, "disk.raw")
	ext4Image(t, img, tree, 64)

	ctx, s := openRaw(t, img)
	_, err := inject.Apply(ctx, s, inject.Spec{
		Timezone: "Europe/Oslo",
		Users:    []inject.User{{Name: "bob", Groups: []string{"wheel"}}},
		SSHKeys:  []inject.SSHKeys{{User: "bob", Keys: []string{"ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl bob"}}},
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct{ request, want string }{
		{"cat /etc/passwd", "root:x:0:0:root:/root:/bin/bash\nbob:x:2000:2000::/home/bob:/bin/sh\n"},
		{"cat /etc/group", "root:x:0:\nwheel:x:10:bob\nbob:x:2000:\n"},
		{"cat /home/bob/.profile", "# profile\n"},
		{"cat /home/bob/.config/app.conf", "x=1\n"},
	} {
		if got := debugfs(t, img, c.request); got != c.want {
			t.Errorf("debugfs %s = %q, want %q", c.request, got, c.want)
		}
	}
	if got := debugfs(t, img, "cat /etc/shadow"); !strings.Contains(got, "\nbob:!:") {
		t.Errorf("/etc/shadow: %q", got)
	}
	// ls -p prints /inode/mode/uid/gid/name/size/ per entry.
	if got := debugfs(t, img, "ls -p /home"); !strings.Contains(got, "/040750/2000/2000/bob/") {
		t.Errorf("/home: %q", got)
	}
	if got := debugfs(t, img, "ls -p /home/bob"); !strings.Contains(got, "/2000/2000/.profile/") || !strings.Contains(got, "/2000/2000/.config/") || !strings.Contains(got, "/2000/2000/.ssh/") {
		t.Errorf("/home/bob: %q", got)
	}
	if got := debugfs(t, img, "stat /etc/localtime"); !strings.Contains(got, "../usr/share/zoneinfo/Europe/Oslo") {
		t.Errorf("/etc/localtime: %q", got)
	}
}
