package appliance_test

import (
	"path/filepath"
	"strings"
	"testing"

	"github.com/guestinject/guestinject/inject"
)

// TestOperationsExt4 applies ordered operations through the appliance and
// reads the committed image back with debugfs: a move (the new wire
// rename), a write to the moved name, a mkdir then a file inside, an
// append-line, a symlink and a recursive delete.
func TestOperationsExt4(t *testing.T) {
	needE2E(t)
	dir := t.TempDir()
	tree := filepath.Join(dir, "tree")
	writeTree(t, tree, map[string]string{
		"etc/motd":        "hello",
		"etc/fstab":       "# fstab\n",
		"var/cache/app/a": "a\n",
		"var/cache/app/b": "b\n",
		"root/":           "",
	})
	img := filepath.Join(dir, "disk.raw")
	ext4Image(t, img, tree, 64)

	ctx, s := openRaw(t, img)
	_, err := inject.Apply(ctx, s, inject.Spec{Operations: []inject.Operation{
		{Move: &inject.Move{From: "/etc/motd", To: "/etc/motd.orig"}},
		{Write: &inject.Write{Path: "/etc/motd.orig", Content: []byte("moved\n")}},
		{Mkdir: &inject.Mkdir{Path: "/srv/app", Mode: 0o750}},
		{Write: &inject.Write{Path: "/srv/app/conf", Content: []byte("x=1\n")}},
		{AppendLine: &inject.AppendLine{Path: "/etc/fstab", Line: "tmpfs /tmp tmpfs defaults 0 0"}},
		{Symlink: &inject.Symlink{Path: "/etc/localtime", Target: "/usr/share/zoneinfo/UTC"}},
		{Delete: &inject.Delete{Path: "/var/cache/app", Recursive: true}},
	}})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct{ request, want string }{
		{"cat /etc/motd.orig", "moved\n"},
		{"cat /srv/app/conf", "x=1\n"},
		{"cat /etc/fstab", "# fstab\ntmpfs /tmp tmpfs defaults 0 0\n"},
	} {
		if got := debugfs(t, img, c.request); got != c.want {
			t.Errorf("debugfs %s = %q, want %q", c.request, got, c.want)
		}
	}
	// ls -p prints /inode/mode/uid/gid/name/size/ per entry.
	if got := debugfs(t, img, "ls -p /etc"); strings.Contains(got, "/motd/") || !strings.Contains(got, "/motd.orig/") {
		t.Errorf("/etc after the move: %q", got)
	}
	if got := debugfs(t, img, "stat /etc/localtime"); !strings.Contains(got, "/usr/share/zoneinfo/UTC") {
		t.Errorf("/etc/localtime: %q", got)
	}
	if got := debugfs(t, img, "ls /var/cache"); strings.Contains(got, "app") {
		t.Errorf("/var/cache/app not deleted: %q", got)
	}
}
