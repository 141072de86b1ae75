package memfs_test

import (
	"io/fs"
	"testing"
	"time"

	"github.com/guestinject/guestinject/vfs"
	"github.com/guestinject/guestinject/vfs/vfstest"
)

// times returns the access and modification times of name itself.
func times(t *testing.T, fsys vfs.FS, name string) (atime, mtime time.Time) {
	t.Helper()
	info, err := fsys.Lstat(t.Context(), name)
	if err != nil {
		t.Fatal(err)
	}
	a, ok := vfs.AttrOf(info)
	if !ok {
		t.Fatalf("%s: no Attr", name)
	}
	return a.Atime, info.ModTime()
}

func TestLchtimes(t *testing.T) {
	at := time.Date(2001, 2, 3, 4, 5, 6, 123456789, time.UTC)
	mt := time.Date(1999, 12, 31, 23, 59, 59, 987654321, time.UTC)
	for _, tc := range []struct {
		name  string
		atime time.Time
		mtime time.Time
	}{
		{name: "/etc/hostname", atime: at, mtime: mt},
		{name: "/data", mtime: mt},
		{name: "/", atime: at},
		{name: "/opt", atime: at, mtime: mt},      // the link itself
		{name: "/loop", atime: at, mtime: mt},     // never followed, so no loop
		{name: "/run/fifo", atime: at, mtime: mt}, // never opened
	} {
		t.Run(tc.name, func(t *testing.T) {
			m := fromLayout(t, vfstest.MustParseLayout(metaLayout))
			oldA, oldM := times(t, m, tc.name)
			hostA, hostM := times(t, m, "/etc/hostname")
			if err := m.Lchtimes(t.Context(), tc.name, tc.atime, tc.mtime); err != nil {
				t.Fatal(err)
			}
			gotA, gotM := times(t, m, tc.name)
			wantA, wantM := tc.atime, tc.mtime
			if wantA.IsZero() {
				wantA = oldA
			}
			if wantM.IsZero() {
				wantM = oldM
			}
			if !gotA.Equal(wantA) || !gotM.Equal(wantM) {
				t.Errorf("times %v %v, want %v %v", gotA, gotM, wantA, wantM)
			}
			if tc.name == "/opt" {
				// /opt links to /etc/hostname, whose times stay.
				if a, mm := times(t, m, "/etc/hostname"); !a.Equal(hostA) || !mm.Equal(hostM) {
					t.Errorf("the link's target changed: %v %v, was %v %v", a, mm, hostA, hostM)
				}
			}
		})
	}
}

func TestLchtimesThroughLinks(t *testing.T) {
	m := fromLayout(t, vfstest.MustParseLayout(metaLayout+"d /var/home\nf /var/home/x\n"))
	mt := time.Unix(1e9, 5)
	// /home is a link to /var/home: an intermediate link is followed in
	// the root.
	if err := m.Lchtimes(t.Context(), "/home/x", time.Time{}, mt); err != nil {
		t.Fatal(err)
	}
	if _, got := times(t, m, "/var/home/x"); !got.Equal(mt) {
		t.Errorf("mtime %v, want %v", got, mt)
	}
}

func TestLchtimesRefusals(t *testing.T) {
	for _, tc := range []struct {
		name string
		err  error
	}{
		{"/missing", fs.ErrNotExist},
		{"/data/missing", fs.ErrNotExist},
		{"/opt/x", vfs.ErrNotDir},
		{"/loop/x", vfs.ErrSymlinkLoop},
		{"/etc/", vfs.ErrInvalidPath},
	} {
		m := fromLayout(t, vfstest.MustParseLayout(metaLayout))
		before := snapshot(t, m)
		err := m.Lchtimes(t.Context(), tc.name, time.Unix(1, 0), time.Unix(2, 0))
		wantPathErr(t, err, tc.name, tc.err)
		if snapshot(t, m) != before {
			t.Errorf("%s: the tree changed", tc.name)
		}
	}
}
