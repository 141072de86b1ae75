package inject

import (
	"context"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/guestinject/guestinject/internal/inroot"
	"github.com/guestinject/guestinject/internal/testsupport/memlayout"
	"github.com/guestinject/guestinject/internal/testsupport/testimage"
	"github.com/guestinject/guestinject/vfs"
	"github.com/guestinject/guestinject/vfs/vfstest"
)

// testNow is the fixed clock of the tests: day 20000 since the epoch.
var testNow = time.Unix(20000*86400+3600, 0)

// backend builds a guest tree from a vfstest layout and serves it.
type backend struct {
	name string
	open func(t *testing.T, layout string) vfs.FS
}

// backends are the vfs.FS implementations every state test runs over.
var backends = []backend{{"memfs", openMemGuest}, {"dir", openDirGuest}}

// openMemGuest builds layout in an in-memory guest. memfs has no host
// around it; "{{canary}}" becomes a path that must stay absent.
func openMemGuest(t *testing.T, layout string) vfs.FS {
	t.Helper()
	l, err := vfstest.ParseLayout(strings.ReplaceAll(layout, "{{canary}}", "/host/canary"))
	if err != nil {
		t.Fatal(err)
	}
	fsys, err := memlayout.Build(l)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if _, err := fsys.Lstat(context.Background(), "/host"); !errors.Is(err, fs.ErrNotExist) {
			t.Errorf("something was created at the fake host path: %v", err)
		}
	})
	return fsys
}

// openDirGuest materialises layout in a temporary directory served by the
// host directory backend, with a sibling canary directory that must not
// change whatever the test does to the guest.
func openDirGuest(t *testing.T, layout string) vfs.FS {
	t.Helper()
	if os.Geteuid() != 0 {
		testimage.Need(t, "root, to set file owners in the directory backend")
	}
	base := t.TempDir()
	root, canary := filepath.Join(base, "root"), filepath.Join(base, "canary")
	for _, d := range []string{root, canary} {
		if err := os.Mkdir(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.WriteFile(filepath.Join(canary, "passwd"), []byte("canary\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	l, err := vfstest.ParseLayout(strings.ReplaceAll(layout, "{{canary}}", canary))
	if err != nil {
		t.Fatal(err)
	}
	if err := l.WriteDir(root); err != nil {
		t.Fatal(err)
	}
	fsys, err := inroot.Open(root)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		fsys.Close()
		data, err := os.ReadFile(filepath.Join(canary, "passwd"))
		entries, _ := os.ReadDir(canary)
		if err != nil || string(data) != "canary\n" || len(entries) != 1 {
			t.Errorf("the host outside the guest root changed: %q, %v, %d entries", data, err, len(entries))
		}
		if info, err := os.Stat(canary); err != nil || info.Mode().Perm() != 0o755 {
			t.Errorf("the canary directory changed: %v %v", info, err)
		}
	})
	return fsys
}

// forEachBackend runs test over every backend.
func forEachBackend(t *testing.T, test func(t *testing.T, open func(t *testing.T, layout string) vfs.FS)) {
	for _, b := range backends {
		t.Run(b.name, func(t *testing.T) { test(t, b.open) })
	}
}

// node is what a tree snapshot records of one guest file.
type node struct {
	Mode     fs.FileMode
	UID, GID int
	Data     string
	Target   string
}

// snapshot walks the whole guest tree through the vfs.
func snapshot(t *testing.T, fsys vfs.FS) map[string]node {
	t.Helper()
	ctx := context.Background()
	out := map[string]node{}
	var walk func(dir string)
	walk = func(dir string) {
		entries, err := fsys.ReadDir(ctx, dir)
		if err != nil {
			t.Fatalf("ReadDir(%s): %v", dir, err)
		}
		for _, e := range entries {
			p := vfs.Join(dir, e.Name())
			info, err := fsys.Lstat(ctx, p)
			if err != nil {
				t.Fatalf("Lstat(%s): %v", p, err)
			}
			a, _ := vfs.AttrOf(info)
			n := node{Mode: info.Mode(), UID: a.UID, GID: a.GID}
			switch {
			case info.Mode().IsRegular():
				data, err := vfs.ReadFile(ctx, fsys, p, 1<<20)
				if errors.Is(err, vfs.ErrTooLarge) {
					data = []byte("<large>")
				} else if err != nil {
					t.Fatalf("ReadFile(%s): %v", p, err)
				}
				n.Data = string(data)
			case info.Mode()&fs.ModeSymlink != 0:
				n.Target, _ = fsys.Readlink(ctx, p)
			case info.IsDir():
				walk(p)
			}
			out[p] = n
		}
	}
	walk("/")
	return out
}

// diffTrees returns the nodes of after that differ from before, and the
// paths of before that are gone (as zero nodes).
func diffTrees(before, after map[string]node) map[string]node {
	out := map[string]node{}
	for p, n := range after {
		if b, ok := before[p]; !ok || b != n {
			out[p] = n
		}
	}
	for p := range before {
		if _, ok := after[p]; !ok {
			out[p] = node{}
		}
	}
	return out
}

// applyDiff applies spec and returns what changed in the tree.
func applyDiff(t *testing.T, fsys vfs.FS, spec Spec) (map[string]node, *Report) {
	t.Helper()
	before := snapshot(t, fsys)
	rep, err := Apply(context.Background(), fsys, spec)
	if err != nil {
		t.Fatalf("Apply: %v", err)
	}
	return diffTrees(before, snapshot(t, fsys)), rep
}

func wantTreeDiff(t *testing.T, want, got map[string]node) {
	t.Helper()
	if d := cmp.Diff(want, got); d != "" {
		t.Errorf("guest changes (-want +got):\n%s", d)
	}
}

// wantPlanErr checks that NewPlan fails with an *ItemError wrapping every
// target, and that the guest is unchanged.
func wantPlanErr(t *testing.T, fsys vfs.FS, spec Spec, targets ...error) *ItemError {
	t.Helper()
	before := snapshot(t, fsys)
	_, err := NewPlan(context.Background(), fsys, spec)
	var ie *ItemError
	if !errors.As(err, &ie) {
		t.Fatalf("NewPlan error = %v, want an *ItemError", err)
	}
	for _, target := range targets {
		if !errors.Is(err, target) {
			t.Errorf("NewPlan error = %v, want it to wrap %v", err, target)
		}
	}
	if d := cmp.Diff(before, snapshot(t, fsys)); d != "" {
		t.Errorf("a failed plan changed the guest:\n%s", d)
	}
	return ie
}

const (
	testKeyA = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl alice@laptop"
	testKeyB = "ecdsa-sha2-nistp256 AAAAE2VjZHNhLXNoYTItbmlzdHAyNTYAAAAIbmlzdHAyNTYAAABBBEmKSENjQEezOmxkZMy7opKgwFB9nkt5YRrYMjNuG5N87uRgg6CLrbo5wAdT/y6v0mKV0U2w0WZ2YB/++Tpockg= bob"
)

// debianLayout is a small Debian-like guest.
const debianLayout = `
d /etc mode=0755 owner=0:0
f /etc/passwd mode=0644 owner=0:0 data="root:x:0:0:root:/root:/bin/bash\ndaemon:x:1:1:daemon:/usr/sbin:/usr/sbin/nologin\nalice:x:1000:1000:Alice:/home/alice:/bin/bash\n"
f /etc/group mode=0644 owner=0:0 data="root:x:0:\nshadow:x:42:\nalice:x:1000:\nstaff:x:50:alice\n"
f /etc/shadow mode=0640 owner=0:42 data="root:*:19000:0:99999:7:::\ndaemon:*:19000:0:99999:7:::\nalice:!:19000:0:99999:7:::\n"
f /etc/os-release data="PRETTY_NAME=\"Debian GNU/Linux 12 (bookworm)\"\nID=debian\nVERSION_ID=\"12\"\n"
f /etc/hostname data="debian\n"
f /etc/hosts data="127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost\n"
d /etc/network
f /etc/network/interfaces data="source /etc/network/interfaces.d/*\n\nauto lo\niface lo inet loopback\n"
d /etc/network/interfaces.d
d /root mode=0700 owner=0:0
d /home mode=0755 owner=0:0
d /home/alice mode=0755 owner=1000:1000
d /sbin
f /sbin/ifup mode=0755
d /usr/lib/systemd
f /usr/lib/systemd/systemd mode=0755
d /etc/systemd/system
`
