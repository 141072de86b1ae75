package memfs_test

import (
	"context"
	"errors"
	"io"
	"io/fs"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"testing"
	"testing/iotest"
	"time"

	"github.com/guestinject/guestinject/vfs"
	"github.com/guestinject/guestinject/vfs/memfs"
	"github.com/guestinject/guestinject/vfs/vfstest"
)

const metaLayout = `
f /etc/hostname data="guest\n"
l /home target=/var/home
l /srv target=/data
d /data
l /opt target=/etc/hostname
l /loop target=/loop
p /run/fifo
d /var/full
f /var/full/x
`

func TestMkdirAll(t *testing.T) {
	for _, tc := range []struct {
		name    string
		perm    fs.FileMode
		err     error
		created []string
	}{
		{name: "/a/b/c", perm: 0o700, created: []string{"/a", "/a/b", "/a/b/c"}},
		{name: "/tmp", perm: fs.ModeSticky | fs.ModeSetgid | 0o777, created: []string{"/tmp"}},
		{name: "/srv/www/html", perm: 0o750, created: []string{"/data/www", "/data/www/html"}},
		{name: "/srv", perm: 0o700},
		{name: "/", perm: 0o700},
		{name: "/home/alice", perm: 0o700, err: fs.ErrExist},
		{name: "/opt/x", perm: 0o700, err: vfs.ErrNotDir},
		{name: "/opt", perm: 0o700, err: vfs.ErrNotDir},
		{name: "/etc/hostname", perm: 0o700, err: vfs.ErrNotDir},
		{name: "/run/fifo/x", perm: 0o700, err: vfs.ErrNotDir},
		{name: "/loop/x", perm: 0o700, err: vfs.ErrSymlinkLoop},
		{name: "/etc/", perm: 0o700, err: vfs.ErrInvalidPath},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m := fromLayout(t, vfstest.MustParseLayout(metaLayout))
			before := snapshot(t, m)
			err := m.MkdirAll(t.Context(), tc.name, tc.perm)
			if tc.err != nil {
				wantPathErr(t, err, tc.name, tc.err)
				if after := snapshot(t, m); after != before {
					t.Errorf("the tree changed:\n%s\nwas\n%s", after, before)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			for _, d := range tc.created {
				if got := stateOf(t, m, d); got != (state{mode: fs.ModeDir | tc.perm}) {
					t.Errorf("%s: %+v, want mode %v owned by 0:0", d, got, fs.ModeDir|tc.perm)
				}
			}
			if len(tc.created) == 0 && snapshot(t, m) != before {
				t.Error("the tree changed")
			}
		})
	}
}

func TestMkdirAllKeepsDanglingTarget(t *testing.T) {
	m := fromLayout(t, vfstest.MustParseLayout(metaLayout))
	err := m.MkdirAll(t.Context(), "/home/alice", 0o700)
	if err == nil || !strings.Contains(err.Error(), "/home: ") {
		t.Errorf("error does not name the component in the way: %v", err)
	}
	if _, err := m.Lstat(t.Context(), "/var/home"); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("the link target was created: %v", err)
	}
}

func TestChmodLchown(t *testing.T) {
	ctx := t.Context()
	m := fromLayout(t, vfstest.MustParseLayout(metaLayout))
	for _, tc := range []struct {
		name string
		mode fs.FileMode
		want fs.FileMode
		err  error
	}{
		{"/etc/hostname", fs.ModeSetuid | 0o755, fs.ModeSetuid | 0o755, nil},
		{"/etc/hostname", fs.ModeDir | fs.ModeSymlink | 0o600, 0o600, nil},
		{"/srv", fs.ModeSticky | 0o777, fs.ModeSymlink | 0o777, vfs.ErrIsSymlink},
		{"/data", fs.ModeSticky | 0o777, fs.ModeDir | fs.ModeSticky | 0o777, nil},
		{"/run/fifo", 0o600, fs.ModeNamedPipe | 0o600, nil},
		{"/", 0o700, fs.ModeDir | 0o700, nil},
	} {
		err := m.Chmod(ctx, tc.name, tc.mode)
		if tc.err != nil {
			wantPathErr(t, err, tc.name, tc.err)
		} else if err != nil {
			t.Fatal(err)
		}
		if info, _ := m.Lstat(ctx, tc.name); info.Mode() != tc.want {
			t.Errorf("chmod %s %v: mode %v, want %v", tc.name, tc.mode, info.Mode(), tc.want)
		}
	}
	wantPathErr(t, m.Chmod(ctx, "/srv/", 0), "/srv/", vfs.ErrInvalidPath)
	wantPathErr(t, m.Chmod(ctx, "/home/x", 0), "/home/x", fs.ErrNotExist)

	// Lchown acts on links themselves; -1 keeps an id.
	for _, tc := range []struct {
		name     string
		uid, gid int
		want     [2]int
	}{
		{"/srv", 1000, 1000, [2]int{1000, 1000}},
		{"/srv", -1, 5, [2]int{1000, 5}},
		{"/etc/hostname", 7, -1, [2]int{7, 0}},
		{"/", 1, 2, [2]int{1, 2}},
	} {
		if err := m.Lchown(ctx, tc.name, tc.uid, tc.gid); err != nil {
			t.Fatal(err)
		}
		if got := stateOf(t, m, tc.name); got.uid != tc.want[0] || got.gid != tc.want[1] {
			t.Errorf("lchown %s %d:%d: owner %d:%d, want %v", tc.name, tc.uid, tc.gid, got.uid, got.gid, tc.want)
		}
	}
	if got := stateOf(t, m, "/data"); got.uid != 0 || got.gid != 0 {
		t.Errorf("the link target's owner changed: %d:%d", got.uid, got.gid)
	}
	for _, tc := range []struct {
		kind       string
		mode, want fs.FileMode
	}{
		{"f", fs.ModeSetuid | 0o755, 0o755},
		{"f", fs.ModeSetgid | 0o755, 0o755},
		{"f", fs.ModeSetgid | 0o745, fs.ModeSetgid | 0o745}, // no group execute: not a privilege
		{"f", fs.ModeSetuid | fs.ModeSetgid | 0o745, fs.ModeSetgid | 0o745},
		{"p", fs.ModeSetuid | 0o644, 0o644},
		{"d", fs.ModeSetuid | fs.ModeSetgid | fs.ModeSticky | 0o755, fs.ModeSetuid | fs.ModeSetgid | fs.ModeSticky | 0o755},
	} {
		m := fromLayout(t, vfstest.MustParseLayout(tc.kind+" /x mode="+strconv.FormatUint(uint64(unixBits(tc.mode)), 8)))
		typ, _ := m.Lstat(ctx, "/x")
		for _, owner := range [][2]int{{-1, -1}, {0, 0}, {7, 8}} {
			if err := m.Chmod(ctx, "/x", tc.mode); err != nil {
				t.Fatal(err)
			}
			if err := m.Lchown(ctx, "/x", owner[0], owner[1]); err != nil {
				t.Fatal(err)
			}
			if info, _ := m.Lstat(ctx, "/x"); info.Mode() != typ.Mode().Type()|tc.want {
				t.Errorf("lchown %v of a %s with mode %v: mode %v, want %v", owner, tc.kind, tc.mode, info.Mode(), tc.want)
			}
		}
	}
	wantPathErr(t, m.Lchown(ctx, "/etc/hostname", -2, 0), "/etc/hostname", fs.ErrInvalid)
	wantPathErr(t, m.Lchown(ctx, "/loop/x", 0, 0), "/loop/x", vfs.ErrSymlinkLoop)
}

func TestRemove(t *testing.T) {
	ctx := t.Context()
	for _, tc := range []struct {
		name string
		err  error
		gone string // what disappears; the name when empty
	}{
		{name: "/etc/hostname"},
		{name: "/srv"},
		{name: "/home"},
		{name: "/loop"},
		{name: "/run/fifo"},
		{name: "/data"},
		{name: "/srv/x", err: fs.ErrNotExist},
		{name: "/var/full", err: vfs.ErrNotEmpty},
		{name: "/", err: fs.ErrPermission},
		{name: "/opt/x", err: vfs.ErrNotDir},
		{name: "/loop/x", err: vfs.ErrSymlinkLoop},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m := fromLayout(t, vfstest.MustParseLayout(metaLayout))
			before := snapshot(t, m)
			err := m.Remove(ctx, tc.name)
			if tc.err != nil {
				wantPathErr(t, err, tc.name, tc.err)
				if snapshot(t, m) != before {
					t.Error("the tree changed")
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			_, err = m.Lstat(ctx, tc.name)
			wantPathErr(t, err, tc.name, fs.ErrNotExist)
			if got, want := strings.Count(snapshot(t, m), "\n"), strings.Count(before, "\n")-1; got != want {
				t.Errorf("%d nodes left, want %d", got, want)
			}
		})
	}
}

func TestSymlink(t *testing.T) {
	ctx := t.Context()
	m := fromLayout(t, vfstest.MustParseLayout(metaLayout))
	if err := m.Symlink(ctx, "../../../etc/hostname", "/srv/up"); err != nil {
		t.Fatal(err)
	}
	if got := stateOf(t, m, "/data/up"); got != (state{mode: fs.ModeSymlink | 0o777}) {
		t.Errorf("new symlink: %+v", got)
	}
	if data, err := vfs.ReadFile(ctx, m, "/data/up", 100); string(data) != "guest\n" || err != nil {
		t.Errorf("read through the new link: %q, %v", data, err)
	}
	for _, tc := range []struct {
		target, name string
		err          error
	}{
		{"", "/x", vfs.ErrInvalidPath},
		{"a\x00b", "/x", vfs.ErrInvalidPath},
		{strings.Repeat("a", vfs.MaxPathLen+1), "/x", vfs.ErrInvalidPath},
		{"x", "/", fs.ErrExist},
		{"x", "/etc/hostname", fs.ErrExist},
		{"x", "/loop", fs.ErrExist},
		{"x", "/home/x", fs.ErrNotExist},
		{"x", "/opt/x", vfs.ErrNotDir},
		{"x", "x", vfs.ErrInvalidPath},
	} {
		wantPathErr(t, m.Symlink(ctx, tc.target, tc.name), tc.name, tc.err)
	}
}

func TestXattrs(t *testing.T) {
	ctx := t.Context()
	m := fromLayout(t, vfstest.MustParseLayout(metaLayout))
	set := func(name, attr, value string) error { return m.Lsetxattr(ctx, name, attr, []byte(value)) }
	for _, tc := range []struct {
		name, attr string
		err        error
	}{
		{"/etc/hostname", "user.a", nil},
		{"/data", "user.a", nil},
		{"/", "trusted.root", nil},
		{"/srv", "security.selinux", nil},
		{"/srv", "user.a", fs.ErrPermission},
		{"/run/fifo", "user.a", fs.ErrPermission},
		{"/run/fifo", "security.selinux", nil},
		{"/etc/hostname", "user.", vfs.ErrNotSupported},
		{"/etc/hostname", "other.a", vfs.ErrNotSupported},
		{"/etc/hostname", "", fs.ErrInvalid},
		{"/etc/hostname", "user." + strings.Repeat("a", 251), fs.ErrInvalid},
		{"/home/x", "user.a", fs.ErrNotExist},
		{"/loop/x", "user.a", vfs.ErrSymlinkLoop},
	} {
		err := set(tc.name, tc.attr, tc.name+" "+tc.attr)
		if tc.err != nil {
			wantPathErr(t, err, tc.name, tc.err)
			continue
		}
		if err != nil {
			t.Fatalf("lsetxattr %s %s: %v", tc.name, tc.attr, err)
		}
		v, err := m.Lgetxattr(ctx, tc.name, tc.attr)
		if string(v) != tc.name+" "+tc.attr || err != nil {
			t.Errorf("lgetxattr %s %s = %q, %v", tc.name, tc.attr, v, err)
		}
	}
	wantPathErr(t, set("/etc/hostname", "user.big", strings.Repeat("x", 64<<10+1)), "/etc/hostname", vfs.ErrTooLarge)
	if got := stateOf(t, m, "/data").xattrs; got != "user.a=/data user.a;" {
		t.Errorf("the link target got the link's attributes: %q", got)
	}
	if err := set("/etc/hostname", "user.0", "first"); err != nil {
		t.Fatal(err)
	}
	names, err := m.Llistxattr(ctx, "/etc/hostname")
	if strings.Join(names, ",") != "user.0,user.a" || err != nil {
		t.Errorf("llistxattr = %q, %v", names, err)
	}
	v, _ := m.Lgetxattr(ctx, "/etc/hostname", "user.0")
	v[0] = 'X' // the caller's copy
	if got := stateOf(t, m, "/etc/hostname").xattrs; !strings.HasPrefix(got, "user.0=first;") {
		t.Errorf("changing a returned value changed the attribute: %q", got)
	}
	_, err = m.Lgetxattr(ctx, "/etc/hostname", "user.none")
	wantPathErr(t, err, "/etc/hostname", fs.ErrNotExist)
	_, err = m.Llistxattr(ctx, "/home")
	if err != nil {
		t.Errorf("llistxattr of a dangling link: %v", err)
	}
}

// allCalls calls every method of memfs.FS that takes a context on name.
func allCalls(ctx context.Context, m *memfs.FS, name string) map[string]error {
	errs := map[string]error{}
	_, errs["stat"] = m.Stat(ctx, name)
	_, errs["lstat"] = m.Lstat(ctx, name)
	_, errs["readlink"] = m.Readlink(ctx, name)
	_, errs["readdir"] = m.ReadDir(ctx, name)
	_, errs["open"] = m.Open(ctx, name)
	errs["mkdirall"] = m.MkdirAll(ctx, name, 0o755)
	errs["writefile"] = m.WriteFile(ctx, name, strings.NewReader("x"), vfs.WriteOptions{})
	errs["chmod"] = m.Chmod(ctx, name, 0o777)
	errs["lchown"] = m.Lchown(ctx, name, 1, 1)
	errs["remove"] = m.Remove(ctx, name)
	errs["symlink"] = m.Symlink(ctx, "x", name)
	errs["lsetxattr"] = m.Lsetxattr(ctx, name, "user.a", nil)
	_, errs["lgetxattr"] = m.Lgetxattr(ctx, name, "user.a")
	_, errs["llistxattr"] = m.Llistxattr(ctx, name)
	errs["lchtimes"] = m.Lchtimes(ctx, name, time.Unix(1, 0), time.Unix(2, 0))
	return errs
}

func TestEveryCallChecks(t *testing.T) {
	cancelled, cancel := context.WithCancel(t.Context())
	cancel()
	for _, tc := range []struct {
		what string
		ctx  context.Context
		name string
		err  error
	}{
		{"cancelled", cancelled, "/etc/hostname", context.Canceled},
		{"cancelled", cancelled, "/new", context.Canceled},
		{"invalid", t.Context(), "/etc/../etc/hostname", vfs.ErrInvalidPath},
		{"invalid", t.Context(), "/etc/hostname\x00", vfs.ErrInvalidPath},
	} {
		m := fromLayout(t, vfstest.MustParseLayout(metaLayout))
		before := snapshot(t, m)
		for op, err := range allCalls(tc.ctx, m, tc.name) {
			t.Run(tc.what+"/"+op, func(t *testing.T) { wantPathErr(t, err, tc.name, tc.err) })
		}
		if snapshot(t, m) != before {
			t.Errorf("%s: the tree changed", tc.what)
		}
	}
}

func TestClosed(t *testing.T) {
	ctx := t.Context()
	m := fromLayout(t, vfstest.MustParseLayout(metaLayout))
	f, err := m.Open(ctx, "/etc/hostname")
	if err != nil {
		t.Fatal(err)
	}
	if err := m.Close(); err != nil {
		t.Fatal(err)
	}
	if err := m.Close(); !errors.Is(err, vfs.ErrClosed) {
		t.Errorf("second close: %v", err)
	}
	for op, err := range allCalls(ctx, m, "/etc/hostname") {
		t.Run(op, func(t *testing.T) { wantPathErr(t, err, "/etc/hostname", vfs.ErrClosed) })
	}
	wantPathErr(t, m.Add(memfs.Node{Path: "/x"}), "/x", vfs.ErrClosed)
	// A file opened before keeps reading, as an open descriptor would.
	if err := iotest.TestReader(f, []byte("guest\n")); err != nil {
		t.Error(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); !errors.Is(err, fs.ErrClosed) {
		t.Errorf("second close of a file: %v", err)
	}
	if _, err := f.Read(make([]byte, 1)); !errors.Is(err, fs.ErrClosed) {
		t.Errorf("read after close: %v", err)
	}
	if _, err := f.Stat(); !errors.Is(err, fs.ErrClosed) {
		t.Errorf("stat after close: %v", err)
	}
}

func TestAdd(t *testing.T) {
	for _, tc := range []struct {
		what string
		node memfs.Node
		err  error
	}{
		{"file", memfs.Node{Path: "/etc/x", Mode: 0o644, Data: []byte("x")}, nil},
		{"socket", memfs.Node{Path: "/etc/x", Mode: fs.ModeSocket | 0o755}, nil},
		{"device", memfs.Node{Path: "/etc/x", Mode: fs.ModeDevice, Rdev: 1}, nil},
		{"hostile link", memfs.Node{Path: "/etc/x", Mode: fs.ModeSymlink | 0o777, Target: "../../../../host"}, nil},
		{"root", memfs.Node{Path: "/", Mode: fs.ModeDir}, fs.ErrExist},
		{"existing", memfs.Node{Path: "/etc/hostname"}, fs.ErrExist},
		{"no parent", memfs.Node{Path: "/none/x"}, fs.ErrNotExist},
		{"parent is a file", memfs.Node{Path: "/etc/hostname/x"}, vfs.ErrNotDir},
		{"parent is a link to a dir", memfs.Node{Path: "/srv/x"}, vfs.ErrNotDir},
		{"unclean", memfs.Node{Path: "/etc/../x"}, vfs.ErrInvalidPath},
		{"irregular", memfs.Node{Path: "/x", Mode: fs.ModeIrregular}, fs.ErrInvalid},
		{"append bit", memfs.Node{Path: "/x", Mode: fs.ModeAppend}, fs.ErrInvalid},
		{"link without target", memfs.Node{Path: "/x", Mode: fs.ModeSymlink}, fs.ErrInvalid},
		{"target of a file", memfs.Node{Path: "/x", Target: "y"}, fs.ErrInvalid},
		{"data of a dir", memfs.Node{Path: "/x", Mode: fs.ModeDir, Data: []byte("y")}, fs.ErrInvalid},
		{"size of a fifo", memfs.Node{Path: "/x", Mode: fs.ModeNamedPipe, Size: 1}, fs.ErrInvalid},
		{"negative size", memfs.Node{Path: "/x", Size: -1}, fs.ErrInvalid},
		{"negative owner", memfs.Node{Path: "/x", UID: -1}, fs.ErrInvalid},
		{"rdev of a file", memfs.Node{Path: "/x", Rdev: 5}, fs.ErrInvalid},
		{"empty attribute", memfs.Node{Path: "/x", Xattrs: map[string][]byte{"": nil}}, fs.ErrInvalid},
	} {
		t.Run(tc.what, func(t *testing.T) {
			m := fromLayout(t, vfstest.MustParseLayout(metaLayout))
			err := m.Add(tc.node)
			if tc.err != nil {
				wantPathErr(t, err, tc.node.Path, tc.err)
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			info, err := m.Lstat(t.Context(), tc.node.Path)
			a, _ := vfs.AttrOf(info)
			if err != nil || info.Mode() != tc.node.Mode || a.Rdev != tc.node.Rdev {
				t.Errorf("lstat after add: %v, %+v, %v", info, a, err)
			}
		})
	}
}

func TestAddCopiesItsInput(t *testing.T) {
	m := memfs.New()
	data := []byte("abc")
	attrs := map[string][]byte{"user.a": []byte("1")}
	if err := m.Add(memfs.Node{Path: "/f", Mode: 0o644, Data: data, Xattrs: attrs}); err != nil {
		t.Fatal(err)
	}
	data[0], attrs["user.a"][0] = 'X', 'X'
	attrs["user.b"] = nil
	if got := stateOf(t, m, "/f"); got.content != "abc" || got.xattrs != "user.a=1;" {
		t.Errorf("the node changed with the caller's data: %+v", got)
	}
}

func TestSparseFile(t *testing.T) {
	ctx := t.Context()
	m := memfs.New()
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	if err := m.Add(memfs.Node{Path: "/huge", Mode: 0o644, Data: []byte("head"), Size: 1 << 30}); err != nil {
		t.Fatal(err)
	}
	runtime.ReadMemStats(&after)
	if grown := after.TotalAlloc - before.TotalAlloc; grown > 1<<20 {
		t.Errorf("a sparse 1 GiB file allocated %d bytes", grown)
	}
	info, err := m.Stat(ctx, "/huge")
	if err != nil || info.Size() != 1<<30 {
		t.Fatalf("stat: %v, %v", info, err)
	}
	f, err := m.Open(ctx, "/huge")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	head := make([]byte, 8)
	if n, err := io.ReadFull(f, head); n != 8 || err != nil || string(head) != "head\x00\x00\x00\x00" {
		t.Errorf("head = %q, %v", head[:n], err)
	}
	n, err := io.Copy(io.Discard, f)
	if n != 1<<30-8 || err != nil {
		t.Errorf("read %d bytes after the head, %v", n, err)
	}

	// Appending after a hole keeps both; reads in any chunk size agree.
	if err := m.Add(memfs.Node{Path: "/small", Mode: 0o644, Data: []byte("ab"), Size: 10}); err != nil {
		t.Fatal(err)
	}
	for _, more := range []string{"xyz", "", "!"} {
		if err := m.WriteFile(ctx, "/small", strings.NewReader(more), vfs.WriteOptions{Policy: vfs.Append, Inherit: true}); err != nil {
			t.Fatal(err)
		}
	}
	want := "ab" + strings.Repeat("\x00", 8) + "xyz!"
	for _, wrap := range []func(io.Reader) io.Reader{
		func(r io.Reader) io.Reader { return r },
		iotest.OneByteReader,
		iotest.HalfReader,
	} {
		f, err := m.Open(ctx, "/small")
		if err != nil {
			t.Fatal(err)
		}
		if err := iotest.TestReader(wrap(f), []byte(want)); err != nil {
			t.Error(err)
		}
		f.Close()
	}
}

func TestConcurrentUse(t *testing.T) {
	ctx := t.Context()
	m := fromLayout(t, vfstest.MustParseLayout(metaLayout))
	var wg sync.WaitGroup
	for w := range 8 {
		wg.Go(func() {
			dir := "/data/w" + strconv.Itoa(w)
			if err := m.MkdirAll(ctx, dir, 0o755); err != nil {
				t.Error(err)
				return
			}
			for i := range 50 {
				name := dir + "/f" + strconv.Itoa(i%5)
				opts := vfs.WriteOptions{Policy: vfs.Append, Perm: 0o644}
				if err := m.WriteFile(ctx, name, strings.NewReader("x"), opts); err != nil {
					t.Error(err)
				}
				if _, err := vfs.ReadFile(ctx, m, name, 1<<10); err != nil {
					t.Error(err)
				}
				if _, err := m.ReadDir(ctx, "/srv"); err != nil {
					t.Error(err)
				}
				if err := m.Lsetxattr(ctx, name, "user.i", []byte(strconv.Itoa(i))); err != nil {
					t.Error(err)
				}
			}
		})
	}
	wg.Wait()
	for w := range 8 {
		for i := range 5 {
			name := "/srv/w" + strconv.Itoa(w) + "/f" + strconv.Itoa(i)
			if data, err := vfs.ReadFile(ctx, m, name, 100); string(data) != strings.Repeat("x", 10) || err != nil {
				t.Errorf("%s = %q, %v", name, data, err)
			}
		}
	}
}

// unixBits is the octal mode of the layout text form.
func unixBits(mode fs.FileMode) uint32 {
	b := uint32(mode.Perm())
	for bit, flag := range map[uint32]fs.FileMode{0o4000: fs.ModeSetuid, 0o2000: fs.ModeSetgid, 0o1000: fs.ModeSticky} {
		if mode&flag != 0 {
			b |= bit
		}
	}
	return b
}

func TestSetgidDirectoryGivesItsGroup(t *testing.T) {
	ctx := t.Context()
	m := fromLayout(t, vfstest.MustParseLayout(`
d /shared mode=2775 owner=1000:50
d /plain mode=0775 owner=1000:60
`))
	for _, tc := range []struct {
		name string
		make func(name string) error
	}{
		{"file", func(name string) error {
			return m.WriteFile(ctx, name, strings.NewReader("x"), vfs.WriteOptions{Perm: 0o644, UID: -1, GID: -1})
		}},
		{"dir", func(name string) error { return m.MkdirAll(ctx, name, 0o755) }},
		{"link", func(name string) error { return m.Symlink(ctx, "x", name) }},
	} {
		for dir, wantGID := range map[string]int{"/shared": 50, "/plain": 0} {
			name := dir + "/" + tc.name
			if err := tc.make(name); err != nil {
				t.Fatal(err)
			}
			if got := stateOf(t, m, name); got.uid != 0 || got.gid != wantGID || got.mode&fs.ModeSetgid != 0 {
				t.Errorf("%s: owner %d:%d mode %v, want 0:%d without setgid", name, got.uid, got.gid, got.mode, wantGID)
			}
		}
	}
	// Named owners win, and a created directory is not setgid itself.
	if err := m.WriteFile(ctx, "/shared/named", strings.NewReader("x"), vfs.WriteOptions{UID: 1, GID: 2}); err != nil {
		t.Fatal(err)
	}
	if got := stateOf(t, m, "/shared/named"); got.uid != 1 || got.gid != 2 {
		t.Errorf("named owner: %d:%d", got.uid, got.gid)
	}
	if err := m.MkdirAll(ctx, "/shared/a/b", 0o755); err != nil {
		t.Fatal(err)
	}
	if got := stateOf(t, m, "/shared/a/b"); got.gid != 0 {
		t.Errorf("/shared/a/b: group %d, want 0 (its parent is not setgid)", got.gid)
	}
}
