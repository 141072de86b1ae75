package inroot_test

import (
	"io/fs"
	"os"
	"testing"
	"time"

	"github.com/guestinject/guestinject/vfs"
)

// hostTimes returns the access and modification times of the host path p
// itself.
func hostTimes(t *testing.T, p string) (atime, mtime time.Time) {
	t.Helper()
	info, err := os.Lstat(p)
	if err != nil {
		t.Fatal(err)
	}
	a, ok := vfs.AttrOf(info)
	if !ok {
		t.Fatalf("%s: no stat data", p)
	}
	return a.Atime, info.ModTime()
}

func TestLchtimes(t *testing.T) {
	tr := newTree(t, hostileLayout+"d /var\n")
	at := time.Date(2001, 2, 3, 4, 5, 6, 123456789, time.UTC)
	mt := time.Date(1999, 12, 31, 23, 59, 59, 987654321, time.UTC)
	for _, name := range []string{"/etc/hostname", "/var", "/", "/etc/evil", "/loop1"} {
		if err := tr.root.Lchtimes(tr.ctx, name, at, mt); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		gotA, gotM := hostTimes(t, tr.host(name))
		if !gotA.Equal(at) || !gotM.Equal(mt) {
			t.Errorf("%s: times %v %v, want %v %v", name, gotA, gotM, at, mt)
		}
		// Lstat reports what was set, the access time included.
		info, err := tr.root.Lstat(tr.ctx, name)
		if err != nil {
			t.Fatal(err)
		}
		if a, _ := vfs.AttrOf(info); !a.Atime.Equal(at) || !info.ModTime().Equal(mt) {
			t.Errorf("%s: lstat says %v %v", name, a.Atime, info.ModTime())
		}
	}
}

func TestLchtimesZeroLeavesTime(t *testing.T) {
	tr := newTree(t, `f /etc/hostname data="guest\n"`)
	at, mt := time.Unix(1e9, 1), time.Unix(1e9+7, 2)
	if err := tr.root.Lchtimes(tr.ctx, "/etc/hostname", at, mt); err != nil {
		t.Fatal(err)
	}
	if err := tr.root.Lchtimes(tr.ctx, "/etc/hostname", time.Time{}, mt.Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	if a, m := hostTimes(t, tr.host("/etc/hostname")); !a.Equal(at) || !m.Equal(mt.Add(time.Hour)) {
		t.Errorf("after a zero atime: %v %v", a, m)
	}
	if err := tr.root.Lchtimes(tr.ctx, "/etc/hostname", at.Add(time.Hour), time.Time{}); err != nil {
		t.Fatal(err)
	}
	if a, m := hostTimes(t, tr.host("/etc/hostname")); !a.Equal(at.Add(time.Hour)) || !m.Equal(mt.Add(time.Hour)) {
		t.Errorf("after a zero mtime: %v %v", a, m)
	}
}

// TestLchtimesHostileLinks: a final link to a host path has its own times
// set, an intermediate one leads into the guest's copy, and ".." climbs
// stop at the root. newTree's cleanup checks that the canary's
// modification times did not move.
func TestLchtimesHostileLinks(t *testing.T) {
	tr := newTree(t, hostileLayout+"f {{canary}}/dir/file\n")
	mt := time.Unix(12345, 678)
	secretA, secretM := hostTimes(t, tr.canary+"/secret")
	if err := tr.root.Lchtimes(tr.ctx, "/etc/evil", time.Time{}, mt); err != nil {
		t.Fatal(err)
	}
	if a, m := hostTimes(t, tr.canary+"/secret"); !a.Equal(secretA) || !m.Equal(secretM) {
		t.Errorf("the host file behind a final link changed: %v %v", a, m)
	}
	for _, name := range []string{"/etc/evil-dir/file", "/up/secret", "/etc/climb"} {
		if err := tr.root.Lchtimes(tr.ctx, name, mt, mt); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
	}
	// The guest's decoys are what changed.
	for _, p := range []string{tr.host(tr.canary + "/dir/file"), tr.host("/secret")} {
		if _, m := hostTimes(t, p); !m.Equal(mt) {
			t.Errorf("%s: mtime %v, want %v", p, m, mt)
		}
	}
}

func TestLchtimesRefusals(t *testing.T) {
	tr := newTree(t, hostileLayout)
	for name, want := range map[string]error{
		"/missing":           fs.ErrNotExist,
		"/etc/missing/x":     fs.ErrNotExist,
		"/etc/hostname/x":    vfs.ErrNotDir,
		"/loop1/x":           vfs.ErrSymlinkLoop,
		"/etc/../etc/passwd": vfs.ErrInvalidPath,
	} {
		wantErr(t, tr.root.Lchtimes(tr.ctx, name, time.Unix(1, 0), time.Unix(2, 0)), name, want)
	}
}
