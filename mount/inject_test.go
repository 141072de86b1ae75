package mount_test

import (
	"context"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/guestinject/guestinject/imagecheck"
	"github.com/guestinject/guestinject/inject"
	"github.com/guestinject/guestinject/internal/testsupport/testimage"
	"github.com/guestinject/guestinject/mount"
	"github.com/guestinject/guestinject/vfs"
	"github.com/guestinject/guestinject/vfs/vfstest"
)

// debianLayout is a small Debian-like guest.
const debianLayout = `
d /etc mode=0755 owner=0:0
f /etc/passwd owner=0:0 data="root:x:0:0:root:/root:/bin/bash\ndebian:x:1000:1000:Debian:/home/debian:/bin/bash\n"
f /etc/group owner=0:0 data="root:x:0:\ndebian:x:1000:\n"
f /etc/shadow mode=0640 owner=0:42 data="root:*:19000:0:99999:7:::\ndebian:!:19000:0:99999:7:::\n"
f /etc/os-release owner=0:0 data="ID=debian\nVERSION_ID=\"12\"\n"
f /etc/hostname owner=0:0 data="localhost\n"
f /etc/hosts owner=0:0 data="127.0.0.1 localhost\n"
d /etc/network owner=0:0
f /etc/network/interfaces owner=0:0 data="auto lo\niface lo inet loopback\n"
d /root mode=0700 owner=0:0
d /home/debian mode=0755 owner=1000:1000
`

// debugfsRead returns what debugfs says for request on img, without its
// banner line.
func debugfsRead(t *testing.T, img, request string) string {
	t.Helper()
	out := testimage.Run(t, "debugfs", "-R", request, img)
	if strings.HasPrefix(out, "debugfs ") {
		_, out, _ = strings.Cut(out, "\n")
	}
	return out
}

// TestInjectSpecReadBack applies a Nova-style inject.Spec through a host
// mount and reads the results back with debugfs, independently of
// guestinject.
func TestInjectSpecReadBack(t *testing.T) {
	needFUSEExport(t)
	dir := t.TempDir()
	tree := mustMkdir(t, filepath.Join(dir, "tree"))
	if err := vfstest.MustParseLayout(debianLayout).WriteDir(tree); err != nil {
		t.Fatal(err)
	}
	img := filepath.Join(dir, "debian.raw")
	testimage.Ext4(t, img, tree, 64)
	state := stateDir(t, dir)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()

	s, err := mount.OpenTrusted(ctx, vfs.Disk{Path: img, Format: imagecheck.Raw}, mount.WithStateDir(state))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	key := "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl admin"
	_, err = inject.Apply(ctx, s, inject.Spec{
		SSHKeys:   []inject.SSHKeys{{User: "debian", Keys: []string{key}}},
		Passwords: []inject.Password{{User: "root", Hash: "$6$saltsalt$Bk3hV0gDJ7VQ8s3uhlrGsJCx0tp3IaeQpw4ZrIYV0ZT7SX3KU5pA6T.m1KJ8KsxgnLH0k9oqc.U/S5pPcK0Aj0"}},
		Hostname:  "web-1",
		Metadata:  map[string]string{"role": "web"},
		Files:     []inject.File{{Path: "/etc/motd", Content: []byte("managed\n"), Mode: 0o644}},
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	for path, want := range map[string]string{
		"/home/debian/.ssh/authorized_keys": key + "\n",
		"/etc/hostname":                     "web-1\n",
		"/etc/motd":                         "managed\n",
		"/meta.js":                          `{"role":"web"}`,
	} {
		if got := debugfsRead(t, img, "cat "+path); strings.TrimSpace(got) != strings.TrimSpace(want) {
			t.Errorf("%s = %q, want %q", path, got, want)
		}
	}
	if shadow := debugfsRead(t, img, "cat /etc/shadow"); !strings.HasPrefix(shadow, "root:$6$saltsalt$") || !strings.Contains(shadow, "\ndebian:!:19000:") {
		t.Errorf("/etc/shadow = %q", shadow)
	}
	for path, want := range map[string][]string{
		"/home/debian/.ssh":                 {"Mode:  0700", "User:  1000", "Group:  1000"},
		"/home/debian/.ssh/authorized_keys": {"Mode:  0600", "User:  1000", "Group:  1000"},
		"/etc/shadow":                       {"Mode:  0640", "User:     0", "Group:    42"},
	} {
		stat := debugfsRead(t, img, "stat "+path)
		for _, w := range want {
			if !strings.Contains(strings.Join(strings.Fields(stat), " "), strings.Join(strings.Fields(w), " ")) {
				t.Errorf("stat %s lacks %q:\n%s", path, w, stat)
			}
		}
	}
}
