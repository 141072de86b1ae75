package memfs_test

import (
	"context"
	"errors"
	"io"
	"io/fs"
	"strconv"
	"strings"
	"testing"
	"testing/iotest"
	"time"

	"github.com/guestinject/guestinject/vfs"
	"github.com/guestinject/guestinject/vfs/memfs"
	"github.com/guestinject/guestinject/vfs/vfstest"
)

const writeLayout = `
f /etc/shadow mode=0640 owner=0:42 data="old\n" xattr.security.selinux="shadow_t"
l /etc/link target=/etc/shadow
l /etc/dangling target=/nowhere
p /etc/fifo
c /etc/tty dev=5:0
b /etc/disk dev=8:0
d /etc/dir
f /etc/file data="x"
d /var
`

// state is what a test sees of one node.
type state struct {
	content  string
	mode     fs.FileMode
	uid, gid int
	xattrs   string
}

func stateOf(t *testing.T, m *memfs.FS, name string) state {
	t.Helper()
	ctx := t.Context()
	info, err := m.Lstat(ctx, name)
	if err != nil {
		t.Fatal(err)
	}
	a, _ := vfs.AttrOf(info)
	s := state{mode: info.Mode(), uid: a.UID, gid: a.GID}
	switch {
	case info.Mode().IsRegular() && info.Size() > 1<<20:
		s.content = "<" + strconv.FormatInt(info.Size(), 10) + " bytes>"
	case info.Mode().IsRegular():
		data, err := vfs.ReadFile(ctx, m, name, 1<<20)
		if err != nil {
			t.Fatal(err)
		}
		s.content = string(data)
	}
	names, err := m.Llistxattr(ctx, name)
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range names {
		v, err := m.Lgetxattr(ctx, name, n)
		if err != nil {
			t.Fatal(err)
		}
		s.xattrs += n + "=" + string(v) + ";"
	}
	return s
}

func TestWritePolicies(t *testing.T) {
	old := state{"old\n", 0o640, 0, 42, "security.selinux=shadow_t;"}
	opts := func(p vfs.WritePolicy, inherit bool) vfs.WriteOptions {
		return vfs.WriteOptions{Policy: p, Perm: fs.ModeSetgid | 0o751, UID: 7, GID: -1, Inherit: inherit}
	}
	for _, tc := range []struct {
		name string
		path string
		opts vfs.WriteOptions
		want state
		err  error
	}{
		{"ReplaceNew", "/etc/new", opts(vfs.Replace, false), state{"new\n", fs.ModeSetgid | 0o751, 7, 0, ""}, nil},
		{"ReplaceExisting", "/etc/shadow", opts(vfs.Replace, false), state{"new\n", fs.ModeSetgid | 0o751, 7, 0, ""}, nil},
		{"ReplaceInherit", "/etc/shadow", opts(vfs.Replace, true), state{"new\n", 0o640, 0, 42, old.xattrs}, nil},
		{"InheritNew", "/etc/new", opts(vfs.Replace, true), state{"new\n", fs.ModeSetgid | 0o751, 7, 0, ""}, nil},
		{"AppendNew", "/etc/new", opts(vfs.Append, false), state{"new\n", fs.ModeSetgid | 0o751, 7, 0, ""}, nil},
		{"AppendExisting", "/etc/shadow", opts(vfs.Append, false), state{"old\nnew\n", fs.ModeSetgid | 0o751, 7, 0, ""}, nil},
		{"AppendInherit", "/etc/shadow", opts(vfs.Append, true), state{"old\nnew\n", 0o640, 0, 42, old.xattrs}, nil},
		{"ExclusiveNew", "/etc/new", opts(vfs.Exclusive, true), state{"new\n", fs.ModeSetgid | 0o751, 7, 0, ""}, nil},
		{"ExclusiveExisting", "/etc/shadow", opts(vfs.Exclusive, false), old, fs.ErrExist},
		{"ThroughIntermediateLink", "/up/etc/new", opts(vfs.Replace, false), state{"new\n", fs.ModeSetgid | 0o751, 7, 0, ""}, nil},
		{"PermTypeBitsIgnored", "/etc/new", vfs.WriteOptions{Perm: fs.ModeDir | fs.ModeSymlink | 0o600, UID: -1, GID: -1}, state{"new\n", 0o600, 0, 0, ""}, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m := fromLayout(t, vfstest.MustParseLayout(writeLayout+"l /up target=../..\n"))
			err := m.WriteFile(t.Context(), tc.path, strings.NewReader("new\n"), tc.opts)
			if tc.err != nil {
				wantPathErr(t, err, tc.path, tc.err)
			} else if err != nil {
				t.Fatal(err)
			}
			path := strings.TrimPrefix(tc.path, "/up")
			if got := stateOf(t, m, path); got != tc.want {
				t.Errorf("%s after write: %+v, want %+v", path, got, tc.want)
			}
		})
	}
}

func TestWriteRefusals(t *testing.T) {
	for _, tc := range []struct {
		path   string
		policy vfs.WritePolicy
		err    error
	}{
		{"/etc/link", vfs.Replace, vfs.ErrIsSymlink},
		{"/etc/link", vfs.Append, vfs.ErrIsSymlink},
		{"/etc/link", vfs.Exclusive, fs.ErrExist},
		{"/etc/dangling", vfs.Replace, vfs.ErrIsSymlink},
		{"/etc/dangling", vfs.Exclusive, fs.ErrExist},
		{"/etc/fifo", vfs.Replace, vfs.ErrNotRegular},
		{"/etc/fifo", vfs.Append, vfs.ErrNotRegular},
		{"/etc/tty", vfs.Replace, vfs.ErrNotRegular},
		{"/etc/disk", vfs.Append, vfs.ErrNotRegular},
		{"/etc/dir", vfs.Replace, vfs.ErrIsDir},
		{"/etc/dir", vfs.Exclusive, fs.ErrExist},
		{"/", vfs.Replace, vfs.ErrIsDir},
		{"/", vfs.Exclusive, fs.ErrExist},
		{"/etc/file/x", vfs.Replace, vfs.ErrNotDir},
		{"/etc/fifo/x", vfs.Replace, vfs.ErrNotDir},
		{"/etc/link/x", vfs.Replace, vfs.ErrNotDir},
		{"/etc/dangling/x", vfs.Replace, fs.ErrNotExist},
		{"/nodir/x", vfs.Append, fs.ErrNotExist},
		{"/etc/x", vfs.WritePolicy(3), vfs.ErrNotSupported},
		{"/etc/x", vfs.WritePolicy(-1), vfs.ErrNotSupported},
		{"etc/x", vfs.Replace, vfs.ErrInvalidPath},
	} {
		t.Run(tc.path+"/"+tc.policy.String(), func(t *testing.T) {
			m := fromLayout(t, vfstest.MustParseLayout(writeLayout))
			before := snapshot(t, m)
			r := &mustNotRead{t: t}
			err := m.WriteFile(t.Context(), tc.path, r, vfs.WriteOptions{Policy: tc.policy, Perm: 0o644, UID: -1, GID: -1})
			wantPathErr(t, err, tc.path, tc.err)
			if after := snapshot(t, m); after != before {
				t.Errorf("the tree changed:\n%s\nwas\n%s", after, before)
			}
		})
	}
}

// mustNotRead fails the test when read: refusals come before the content.
type mustNotRead struct{ t *testing.T }

func (r *mustNotRead) Read([]byte) (int, error) {
	r.t.Error("the content was read although the write is refused")
	return 0, io.EOF
}

func TestWriteInvalidOwner(t *testing.T) {
	m := memfs.New()
	err := m.WriteFile(t.Context(), "/x", strings.NewReader("x"), vfs.WriteOptions{UID: -2, GID: 0})
	wantPathErr(t, err, "/x", fs.ErrInvalid)
}

func TestWriteMaxSize(t *testing.T) {
	for _, tc := range []struct {
		name    string
		path    string
		policy  vfs.WritePolicy
		data    string
		maxSize int64
		err     error
	}{
		{"ReplaceAtLimit", "/etc/file", vfs.Replace, "12345", 5, nil},
		{"ReplaceOver", "/etc/file", vfs.Replace, "123456", 5, vfs.ErrTooLarge},
		{"ExclusiveOver", "/etc/new", vfs.Exclusive, "123456", 5, vfs.ErrTooLarge},
		{"AppendAtLimit", "/etc/file", vfs.Append, "1234", 5, nil},
		{"AppendOver", "/etc/file", vfs.Append, "12345", 5, vfs.ErrTooLarge},
		{"AppendExistingOver", "/var/huge", vfs.Append, "", 1 << 20, vfs.ErrTooLarge},
		{"NegativeIsNoBound", "/etc/file", vfs.Replace, "123456", -1, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m := fromLayout(t, vfstest.MustParseLayout(writeLayout+"f /var/huge size=1G\n"))
			before := snapshot(t, m)
			err := m.WriteFile(t.Context(), tc.path, strings.NewReader(tc.data), vfs.WriteOptions{Policy: tc.policy, MaxSize: tc.maxSize, Perm: 0o644, UID: -1, GID: -1})
			if tc.err == nil {
				if err != nil {
					t.Fatal(err)
				}
				if after := snapshot(t, m); after == before {
					t.Error("nothing changed")
				}
				return
			}
			wantPathErr(t, err, tc.path, tc.err)
			if after := snapshot(t, m); after != before {
				t.Errorf("the tree changed:\n%s\nwas\n%s", after, before)
			}
		})
	}
}

func TestWriteFailuresChangeNothing(t *testing.T) {
	errBroken := errors.New("broken")
	for _, tc := range []struct {
		name string
		r    func(cancel context.CancelFunc) io.Reader
		err  error
	}{
		{"FailingReader", func(context.CancelFunc) io.Reader {
			return io.MultiReader(strings.NewReader("partial"), iotest.ErrReader(errBroken))
		}, errBroken},
		{"CancelledWhileReading", func(cancel context.CancelFunc) io.Reader {
			return &funcReader{func(p []byte) (int, error) { cancel(); return copy(p, "x"), nil }}
		}, context.Canceled},
		{"CancelledAtTheEnd", func(cancel context.CancelFunc) io.Reader {
			return &funcReader{func(p []byte) (int, error) { cancel(); return 0, io.EOF }}
		}, context.Canceled},
	} {
		for _, policy := range []vfs.WritePolicy{vfs.Replace, vfs.Append, vfs.Exclusive} {
			for _, path := range []string{"/etc/file", "/etc/new"} {
				t.Run(tc.name+"/"+policy.String()+path, func(t *testing.T) {
					if policy == vfs.Exclusive && path == "/etc/file" {
						t.Skip("refused before reading")
					}
					m := fromLayout(t, vfstest.MustParseLayout(writeLayout))
					before := snapshot(t, m)
					ctx, cancel := context.WithCancel(t.Context())
					defer cancel()
					err := m.WriteFile(ctx, path, tc.r(cancel), vfs.WriteOptions{Policy: policy, Perm: 0o600, UID: -1, GID: -1})
					wantPathErr(t, err, path, tc.err)
					if after := snapshot(t, m); after != before {
						t.Errorf("the tree changed:\n%s\nwas\n%s", after, before)
					}
				})
			}
		}
	}
}

type funcReader struct{ read func([]byte) (int, error) }

func (r *funcReader) Read(p []byte) (int, error) { return r.read(p) }

// The tree is not locked while the content is read, and the final step
// looks again at what the name is by then.
func TestWriteLooksAgainAfterReading(t *testing.T) {
	ctx := t.Context()
	for _, tc := range []struct {
		name   string
		policy vfs.WritePolicy
		meddle func(m *memfs.FS) error
		err    error
		want   string
	}{
		{"BecameSymlink", vfs.Replace, func(m *memfs.FS) error {
			if err := m.Remove(ctx, "/etc/file"); err != nil {
				return err
			}
			return m.Symlink(ctx, "/etc/shadow", "/etc/file")
		}, vfs.ErrIsSymlink, ""},
		{"CreatedMeanwhile", vfs.Exclusive, func(m *memfs.FS) error {
			return m.WriteFile(ctx, "/etc/new", strings.NewReader("first"), vfs.WriteOptions{Policy: vfs.Exclusive})
		}, fs.ErrExist, "first"},
		{"ParentRemoved", vfs.Replace, func(m *memfs.FS) error {
			return m.Remove(ctx, "/etc/dir")
		}, fs.ErrNotExist, ""},
		{"AppendSeesNewContent", vfs.Append, func(m *memfs.FS) error {
			return m.WriteFile(ctx, "/etc/file", strings.NewReader("y"), vfs.WriteOptions{Policy: vfs.Append})
		}, nil, "xy+"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m := fromLayout(t, vfstest.MustParseLayout(writeLayout))
			path := map[vfs.WritePolicy]string{vfs.Replace: "/etc/file", vfs.Exclusive: "/etc/new", vfs.Append: "/etc/file"}[tc.policy]
			if tc.name == "ParentRemoved" {
				path = "/etc/dir/x"
			}
			meddled := false
			r := &funcReader{func(p []byte) (int, error) {
				if meddled {
					return 0, io.EOF
				}
				meddled = true
				done := make(chan error, 1)
				go func() { done <- tc.meddle(m) }()
				select {
				case err := <-done:
					if err != nil {
						t.Error(err)
					}
				case <-time.After(10 * time.Second):
					t.Fatal("the tree is locked while the content is read")
				}
				return copy(p, "+"), nil
			}}
			err := m.WriteFile(ctx, path, r, vfs.WriteOptions{Policy: tc.policy, Perm: 0o644, UID: -1, GID: -1})
			if tc.err != nil {
				wantPathErr(t, err, path, tc.err)
			} else if err != nil {
				t.Fatal(err)
			}
			if tc.want != "" {
				if data, err := vfs.ReadFile(ctx, m, path, 100); string(data) != tc.want || err != nil {
					t.Errorf("%s = %q, %v; want %q", path, data, err, tc.want)
				}
			}
		})
	}
}

func TestWriteUpdatesModTime(t *testing.T) {
	ctx := t.Context()
	m := memfs.New()
	long := time.Date(2000, 1, 1, 0, 0, 0, 0, time.UTC)
	for _, n := range []memfs.Node{
		{Path: "/etc", Mode: fs.ModeDir | 0o755, ModTime: long},
		{Path: "/etc/file", Mode: 0o644, Data: []byte("x"), ModTime: long},
	} {
		if err := m.Add(n); err != nil {
			t.Fatal(err)
		}
	}
	info, _ := m.Stat(ctx, "/etc/file")
	if !info.ModTime().Equal(long) {
		t.Fatalf("modtime from Add = %v", info.ModTime())
	}
	start := time.Now()
	for _, p := range []vfs.WritePolicy{vfs.Replace, vfs.Append} {
		if err := m.Chmod(ctx, "/etc/file", 0o600); err != nil {
			t.Fatal(err)
		}
		if err := m.WriteFile(ctx, "/etc/file", strings.NewReader("y"), vfs.WriteOptions{Policy: p, Inherit: true}); err != nil {
			t.Fatal(err)
		}
		after, _ := m.Stat(ctx, "/etc/file")
		if after.ModTime().Before(start) {
			t.Errorf("%v: modtime %v after a write started at %v", p, after.ModTime(), start)
		}
	}
	if dir, _ := m.Stat(ctx, "/etc"); dir.ModTime().Before(start) {
		t.Errorf("directory modtime %v after an entry was replaced", dir.ModTime())
	}
}

func TestOpenFileKeepsItsContent(t *testing.T) {
	ctx := t.Context()
	m := fromLayout(t, vfstest.MustParseLayout(writeLayout))
	f, err := m.Open(ctx, "/etc/shadow")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if err := m.WriteFile(ctx, "/etc/shadow", strings.NewReader("replaced, longer\n"), vfs.WriteOptions{Perm: 0o600}); err != nil {
		t.Fatal(err)
	}
	if err := iotest.TestReader(f, []byte("old\n")); err != nil {
		t.Error(err)
	}
	if err := m.Chmod(ctx, "/etc/shadow", 0o400); err != nil {
		t.Fatal(err)
	}
	if info, err := f.Stat(); err != nil || info.Size() != 4 || info.Name() != "shadow" {
		t.Errorf("stat of the open file: %v, %v", info, err)
	}
}

// snapshot renders the whole tree, content, modes, owners and attributes.
func snapshot(t *testing.T, m *memfs.FS) string {
	t.Helper()
	var b strings.Builder
	err := fs.WalkDir(vfs.IOFS(t.Context(), m), ".", func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		name := "/" + p
		if p == "." {
			name = "/"
		}
		s := stateOf(t, m, name)
		info, err := m.Lstat(t.Context(), name)
		if err != nil {
			return err
		}
		target, _ := m.Readlink(t.Context(), name)
		a, _ := vfs.AttrOf(info)
		b.WriteString(name + " " + info.Mode().String() + " " + info.ModTime().String() + " " + a.Atime.String() + " " + strconv.Quote(target) + " " + strconv.Quote(s.content) + " " + strconv.Quote(s.xattrs) + "\n")
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return b.String()
}
