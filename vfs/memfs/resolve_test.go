package memfs_test

import (
	"errors"
	"io/fs"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/guestinject/guestinject/vfs"
	"github.com/guestinject/guestinject/vfs/vfstest"
)

// resolveLayout holds the link shapes resolution must get right.
const resolveLayout = `
f /etc/hostname data="guest\n"
f /etc/passwd data="root\n"
d /etc/sub
f /etc/sub/file data="sub\n"
l /etc/abs target=/etc/hostname
l /etc/rel target=hostname
l /etc/relup target=../etc/sub/file
l /etc/climb target=../../../../../../etc/hostname
l /etc/dotted target=./sub/./file
l /etc/slashes target=//etc///sub//file
l /etc/dirslash target=/etc/sub/
l /etc/fileslash target=/etc/hostname/
l /etc/filedot target=/etc/hostname/.
l /etc/filedotdot target=/etc/hostname/../passwd
l /etc/dirdotdot target=sub/../passwd
l /mid target=/etc/sub
l /mid2 target=../../mid
l /up target=..
l /root-link target=/
l /dangling target=/nowhere
l /dangling-dir target=/nowhere/deeper
l /loop1 target=/loop2
l /loop2 target=loop1
l /self target=self
l /selfdir target=selfdir/x
p /etc/fifo
l /etc/to-fifo target=fifo
l /etc/through-fifo target=fifo/x
c /dev/null mode=0666 dev=1:3
l /etc/to-null target=/dev/null
`

func TestResolution(t *testing.T) {
	for _, tc := range []struct {
		name string
		want string // content read with Open, or the error
		err  error
	}{
		{name: "/etc/abs", want: "guest\n"},
		{name: "/etc/rel", want: "guest\n"},
		{name: "/etc/relup", want: "sub\n"},
		{name: "/etc/climb", want: "guest\n"},
		{name: "/etc/dotted", want: "sub\n"},
		{name: "/etc/slashes", want: "sub\n"},
		{name: "/etc/dirslash/file", want: "sub\n"},
		{name: "/etc/dirslash", err: vfs.ErrNotRegular},
		{name: "/etc/fileslash", err: vfs.ErrNotDir},
		{name: "/etc/filedot", err: vfs.ErrNotDir},
		{name: "/etc/filedotdot", err: vfs.ErrNotDir},
		{name: "/etc/dirdotdot", want: "root\n"},
		{name: "/mid/file", want: "sub\n"},
		{name: "/mid2/file", want: "sub\n"},
		{name: "/up/up/up/etc/hostname", want: "guest\n"},
		{name: "/root-link/root-link/etc/abs", want: "guest\n"},
		{name: "/mid/../../../etc/hostname", err: vfs.ErrInvalidPath},
		{name: "/dangling", err: fs.ErrNotExist},
		{name: "/dangling-dir", err: fs.ErrNotExist},
		{name: "/dangling/x", err: fs.ErrNotExist},
		{name: "/loop1", err: vfs.ErrSymlinkLoop},
		{name: "/loop2/x", err: vfs.ErrSymlinkLoop},
		{name: "/self", err: vfs.ErrSymlinkLoop},
		{name: "/selfdir", err: vfs.ErrSymlinkLoop},
		{name: "/etc/fifo", err: vfs.ErrNotRegular},
		{name: "/etc/to-fifo", err: vfs.ErrNotRegular},
		{name: "/etc/through-fifo", err: vfs.ErrNotDir},
		{name: "/etc/to-null", err: vfs.ErrNotRegular},
		{name: "/etc/hostname/x", err: vfs.ErrNotDir},
		{name: "/etc/missing/x", err: fs.ErrNotExist},
	} {
		t.Run(strings.TrimPrefix(tc.name, "/"), func(t *testing.T) {
			m := fromLayout(t, vfstest.MustParseLayout(resolveLayout))
			data, err := vfs.ReadFile(t.Context(), m, tc.name, 1<<10)
			if tc.err != nil {
				wantPathErr(t, err, tc.name, tc.err)
				return
			}
			if err != nil || string(data) != tc.want {
				t.Errorf("read %s = %q, %v; want %q", tc.name, data, err, tc.want)
			}
		})
	}
}

func TestLinkBudget(t *testing.T) {
	for _, tc := range []struct {
		links int
		err   error
	}{{40, nil}, {41, vfs.ErrSymlinkLoop}} {
		// One chain, alternating absolute and relative links.
		layout := `f /l0 data="end"` + "\n"
		for i := 1; i <= tc.links; i++ {
			target := "/l" + strconv.Itoa(i-1)
			if i%2 == 0 {
				target = "l" + strconv.Itoa(i-1)
			}
			layout += "l /l" + strconv.Itoa(i) + " target=" + target + "\n"
		}
		m := fromLayout(t, vfstest.MustParseLayout(layout))
		name := "/l" + strconv.Itoa(tc.links)
		_, err := m.Stat(t.Context(), name)
		if tc.err == nil && err != nil {
			t.Errorf("stat through %d links: %v", tc.links, err)
		}
		if tc.err != nil {
			wantPathErr(t, err, name, tc.err)
		}
		// Lstat follows nothing at the end, so it never runs out.
		if _, err := m.Lstat(t.Context(), name); err != nil {
			t.Errorf("lstat %s: %v", name, err)
		}
	}
}

func TestLstatAndReadlinkDoNotFollowFinal(t *testing.T) {
	m := fromLayout(t, vfstest.MustParseLayout(resolveLayout))
	ctx := t.Context()
	for name, target := range map[string]string{"/loop1": "/loop2", "/dangling": "/nowhere", "/mid2": "../../mid"} {
		info, err := m.Lstat(ctx, name)
		if err != nil || info.Mode() != fs.ModeSymlink|0o777 || info.Size() != int64(len(target)) {
			t.Errorf("lstat %s: %v, %v", name, info, err)
		}
		if got, err := m.Readlink(ctx, name); got != target || err != nil {
			t.Errorf("readlink %s = %q, %v; want %q", name, got, err, target)
		}
	}
	// The final link of a name reached through other links is not followed.
	info, err := m.Lstat(ctx, "/root-link/etc/abs")
	if err != nil || info.Mode().Type() != fs.ModeSymlink || info.Name() != "abs" {
		t.Errorf("lstat /root-link/etc/abs: %v, %v", info, err)
	}
	_, err = m.Readlink(ctx, "/etc/hostname")
	wantPathErr(t, err, "/etc/hostname", fs.ErrInvalid)
	_, err = m.Readlink(ctx, "/")
	wantPathErr(t, err, "/", fs.ErrInvalid)
}

func TestStatNamesAndAttr(t *testing.T) {
	m := fromLayout(t, vfstest.MustParseLayout(resolveLayout+`
d /etc/sub2
f /home/alice/x owner=1000:100 mode=4750
`))
	ctx := t.Context()
	for _, tc := range []struct {
		name, base string
		mode       fs.FileMode
		attr       vfs.Attr
	}{
		{"/", "/", fs.ModeDir | 0o755, vfs.Attr{Nlink: 2 + 3}},
		{"/etc", "etc", fs.ModeDir | 0o755, vfs.Attr{Nlink: 2 + 2}},
		{"/etc/abs", "abs", 0o644, vfs.Attr{Nlink: 1}},
		{"/home/alice/x", "x", fs.ModeSetuid | 0o750, vfs.Attr{UID: 1000, GID: 100, Nlink: 1}},
		{"/dev/null", "null", fs.ModeDevice | fs.ModeCharDevice | 0o666, vfs.Attr{Nlink: 1, Rdev: 1<<8 | 3}},
	} {
		info, err := m.Stat(ctx, tc.name)
		if err != nil {
			t.Fatal(err)
		}
		a, ok := vfs.AttrOf(info)
		a.Atime = time.Time{} // times are another test's
		if info.Name() != tc.base || info.Mode() != tc.mode || !ok || a != tc.attr {
			t.Errorf("stat %s: name %q mode %v attr %+v; want %q %v %+v", tc.name, info.Name(), info.Mode(), a, tc.base, tc.mode, tc.attr)
		}
	}
}

func TestReadDirTypesAreTheEntries(t *testing.T) {
	m := fromLayout(t, vfstest.MustParseLayout(resolveLayout))
	entries, err := m.ReadDir(t.Context(), "/mid2/..") // invalid: unclean
	wantPathErr(t, err, "/mid2/..", vfs.ErrInvalidPath)
	if entries != nil {
		t.Errorf("entries for an invalid name: %v", entries)
	}
	entries, err = m.ReadDir(t.Context(), "/root-link/etc")
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, d := range entries {
		got = append(got, d.Name()+":"+d.Type().String())
	}
	want := "abs:L---------, climb:L---------, dirdotdot:L---------, dirslash:L---------, dotted:L---------, " +
		"fifo:p---------, filedot:L---------, filedotdot:L---------, fileslash:L---------, hostname:----------, " +
		"passwd:----------, rel:L---------, relup:L---------, slashes:L---------, sub:d---------, " +
		"through-fifo:L---------, to-fifo:L---------, to-null:L---------"
	if s := strings.Join(got, ", "); s != want {
		t.Errorf("readdir:\n got %s\nwant %s", s, want)
	}
	for name, want := range map[string]error{"/etc/abs": vfs.ErrNotDir, "/etc/fifo": vfs.ErrNotDir, "/dangling": fs.ErrNotExist, "/loop1": vfs.ErrSymlinkLoop} {
		_, err := m.ReadDir(t.Context(), name)
		wantPathErr(t, err, name, want)
	}
}

// wantPathErr checks that err is an *fs.PathError for name wrapping target.
func wantPathErr(t *testing.T, err error, name string, target error) {
	t.Helper()
	var pe *fs.PathError
	switch {
	case !errors.Is(err, target):
		t.Errorf("%s: got %v, want %v", name, err, target)
	case !errors.As(err, &pe):
		t.Errorf("%s: %v (%T) is not an *fs.PathError", name, err, err)
	case pe.Path != name:
		t.Errorf("%s: error names %q", name, pe.Path)
	}
}
