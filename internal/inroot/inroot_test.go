package inroot_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"golang.org/x/sys/unix"

	"github.com/guestinject/guestinject/internal/inroot"
	"github.com/guestinject/guestinject/internal/testsupport/inroottest"
	"github.com/guestinject/guestinject/vfs"
	"github.com/guestinject/guestinject/vfs/vfstest"
)

// canaryLayout is the host tree next to the guest root that hostile
// guests aim at.
const canaryLayout = `
f /secret mode=0600 data="host secret\n"
d /dir
f /dir/file data="host file\n"
l /dir/up target=../secret
`

// tree is a guest root built from a layout next to a host canary tree.
type tree struct {
	*testing.T
	ctx    context.Context
	root   *inroot.Root
	guest  string // host directory of the guest root
	canary string // host directory the guest must never touch
}

// newTree builds layout in a fresh guest root; "{{canary}}" in the layout
// stands for the canary's host path. At the end of the test it checks that
// nothing in the canary changed and that no temporary file is left in the
// guest.
func newTree(t *testing.T, layout string, opts ...inroot.Option) *tree {
	t.Helper()
	base := t.TempDir()
	tr := &tree{T: t, ctx: t.Context(), guest: filepath.Join(base, "root"), canary: filepath.Join(base, "canary")}
	for _, d := range []string{tr.guest, tr.canary} {
		if err := os.Mkdir(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if err := vfstest.MustParseLayout(canaryLayout).WriteDir(tr.canary); err != nil {
		t.Fatal(err)
	}
	l, err := vfstest.ParseLayout(strings.ReplaceAll(layout, "{{canary}}", tr.canary))
	if err != nil {
		t.Fatal(err)
	}
	if err := l.WriteDir(tr.guest); err != nil {
		t.Fatal(err)
	}
	before := vfstest.SnapshotHost(t, tr.canary, "")
	tr.root, err = inroot.Open(tr.guest, opts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = tr.root.Close()
		if diff := cmp.Diff(before, vfstest.SnapshotHost(t, tr.canary, "")); diff != "" {
			t.Errorf("the host canary changed (-before +after):\n%s", diff)
		}
		_ = filepath.WalkDir(tr.guest, func(p string, d fs.DirEntry, err error) error {
			if err == nil && strings.HasPrefix(d.Name(), inroot.TempPrefix) {
				t.Errorf("temporary file left behind: %s", p)
			}
			return nil
		})
	})
	return tr
}

// host returns the host path of a guest path.
func (tr *tree) host(name string) string { return filepath.Join(tr.guest, name) }

func (tr *tree) hostContent(name string) string {
	tr.Helper()
	data, err := os.ReadFile(tr.host(name))
	if err != nil {
		tr.Fatal(err)
	}
	return string(data)
}

func (tr *tree) write(name, data string, opts vfs.WriteOptions) error {
	return tr.root.WriteFile(tr.ctx, name, strings.NewReader(data), opts)
}

// wantErr checks that err is an *fs.PathError for name wrapping target.
func wantErr(t *testing.T, err error, name string, target error) {
	t.Helper()
	var pe *fs.PathError
	switch {
	case err == nil:
		t.Errorf("%s: succeeded, want %v", name, target)
	case !errors.Is(err, target):
		t.Errorf("%s: got %v, want %v", name, err, target)
	case !errors.As(err, &pe) || pe.Path != name:
		t.Errorf("%s: error %v is not an *fs.PathError naming the path", name, err)
	}
}

func file(perm fs.FileMode) vfs.WriteOptions { return vfs.WriteOptions{Perm: perm, UID: -1, GID: -1} }

const hostileLayout = `
f /etc/hostname data="guest\n"
l /etc/evil target={{canary}}/secret
l /etc/evil-dir target={{canary}}/dir
l /etc/climb target=../../../../../../../../secret
l /up target=../../../../..
l /loop1 target=/loop2
l /loop2 target=/loop1
f /secret data="guest decoy\n"
d {{canary}}/dir
f {{canary}}/secret data="guest decoy 2\n"
`

func TestAbsoluteSymlinkToHostStaysInRoot(t *testing.T) {
	tr := newTree(t, hostileLayout)
	data, err := vfs.ReadFile(tr.ctx, tr.root, "/etc/evil", 1024)
	if err != nil || string(data) != "guest decoy 2\n" {
		t.Errorf("read /etc/evil = %q, %v; want the guest's decoy", data, err)
	}
	for _, policy := range []vfs.WritePolicy{vfs.Replace, vfs.Append} {
		opts := file(0o644)
		opts.Policy = policy
		wantErr(t, tr.write("/etc/evil", "pwned", opts), "/etc/evil", vfs.ErrIsSymlink)
	}
	opts := file(0o644)
	opts.Policy = vfs.Exclusive
	wantErr(t, tr.write("/etc/evil", "pwned", opts), "/etc/evil", fs.ErrExist)
	wantErr(t, tr.root.Chmod(tr.ctx, "/etc/evil", 0o777), "/etc/evil", vfs.ErrIsSymlink)
	// Through the link as an intermediate component: the guest's directory.
	if err := tr.write("/etc/evil-dir/new", "x", file(0o644)); err != nil {
		t.Fatal(err)
	}
	if got := tr.hostContent(filepath.Join(strings.TrimPrefix(tr.canary, "/"), "dir/new")); got != "x" {
		t.Errorf("guest copy of the canary dir holds %q", got)
	}
	if err := tr.root.Lchown(tr.ctx, "/etc/evil", os.Getuid(), os.Getgid()); err != nil {
		t.Error(err)
	}
	if err := tr.root.Remove(tr.ctx, "/etc/evil"); err != nil {
		t.Error(err)
	}
}

func TestDotDotClimbsStopAtRoot(t *testing.T) {
	tr := newTree(t, hostileLayout)
	for _, name := range []string{"/etc/climb", "/up/secret", "/up/up/up/secret"} {
		data, err := vfs.ReadFile(tr.ctx, tr.root, name, 1024)
		if err != nil || string(data) != "guest decoy\n" {
			t.Errorf("read %s = %q, %v; want the guest's /secret", name, data, err)
		}
	}
	if err := tr.write("/up/up/secret", "changed\n", file(0o644)); err != nil {
		t.Fatal(err)
	}
	if got := tr.hostContent("secret"); got != "changed\n" {
		t.Errorf("/secret = %q", got)
	}
	if err := tr.root.MkdirAll(tr.ctx, "/up/dir/../x", 0o755); !errors.Is(err, vfs.ErrInvalidPath) {
		t.Errorf("mkdirall with ..: %v", err)
	}
	if err := tr.root.MkdirAll(tr.ctx, "/up/up/newdir", 0o755); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(tr.host("newdir")); err != nil {
		t.Errorf("newdir not made in the root: %v", err)
	}
}

func TestLoops(t *testing.T) {
	tr := newTree(t, hostileLayout)
	_, err := tr.root.Stat(tr.ctx, "/loop1")
	wantErr(t, err, "/loop1", vfs.ErrSymlinkLoop)
	_, err = tr.root.Open(tr.ctx, "/loop1")
	wantErr(t, err, "/loop1", vfs.ErrSymlinkLoop)
	wantErr(t, tr.write("/loop1/x", "x", file(0o644)), "/loop1/x", vfs.ErrSymlinkLoop)
	wantErr(t, tr.root.MkdirAll(tr.ctx, "/loop2/x", 0o755), "/loop2/x", vfs.ErrSymlinkLoop)
	wantErr(t, tr.write("/loop1", "x", file(0o644)), "/loop1", vfs.ErrIsSymlink)
	if info, err := tr.root.Lstat(tr.ctx, "/loop1"); err != nil || info.Mode().Type() != fs.ModeSymlink {
		t.Errorf("lstat /loop1: %v, %v", info, err)
	}
}

// noBlock fails t if f has not returned after a few seconds: a FIFO opened
// by mistake never returns.
func noBlock(t *testing.T, what string, f func()) {
	t.Helper()
	done := make(chan struct{})
	go func() {
		defer close(done)
		f()
	}()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatalf("%s blocked", what)
	}
}

func TestFIFONeverOpened(t *testing.T) {
	tr := newTree(t, `
p /etc/fifo
l /etc/motd target=/etc/fifo
`)
	noBlock(t, "reading a FIFO", func() {
		for _, name := range []string{"/etc/fifo", "/etc/motd"} {
			_, err := tr.root.Open(tr.ctx, name)
			wantErr(t, err, name, vfs.ErrNotRegular)
		}
		for _, policy := range []vfs.WritePolicy{vfs.Replace, vfs.Append} {
			opts := file(0o644)
			opts.Policy, opts.Inherit = policy, true
			wantErr(t, tr.write("/etc/fifo", "x", opts), "/etc/fifo", vfs.ErrNotRegular)
		}
		if _, err := tr.root.ReadDir(tr.ctx, "/etc/fifo"); !errors.Is(err, vfs.ErrNotDir) {
			t.Errorf("readdir of a FIFO: %v", err)
		}
	})
	if info, err := os.Lstat(tr.host("etc/fifo")); err != nil || info.Mode().Type() != fs.ModeNamedPipe {
		t.Errorf("the FIFO was replaced: %v %v", info, err)
	}
}

// openWatch reports IN_OPEN events on a host file, to prove that the
// backend never opens it (O_PATH descriptors do not count as opens).
type openWatch struct {
	fd int
}

func watchOpens(t *testing.T, path string) *openWatch {
	t.Helper()
	fd, err := unix.InotifyInit1(unix.IN_NONBLOCK | unix.IN_CLOEXEC)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { unix.Close(fd) })
	if _, err := unix.InotifyAddWatch(fd, path, unix.IN_OPEN|unix.IN_ACCESS|unix.IN_MODIFY); err != nil {
		t.Fatal(err)
	}
	return &openWatch{fd: fd}
}

// events returns the number of events since the last call.
func (w *openWatch) events() int {
	buf := make([]byte, 4096)
	count := 0
	for {
		n, err := unix.Read(w.fd, buf)
		if err != nil || n <= 0 {
			return count
		}
		for off := 0; off+unix.SizeofInotifyEvent <= n; {
			length := int(buf[off+12]) | int(buf[off+13])<<8 | int(buf[off+14])<<16 | int(buf[off+15])<<24
			off += unix.SizeofInotifyEvent + length
			count++
		}
	}
}

func TestDeviceNodeNeverOpened(t *testing.T) {
	inroottest.RequireRoot(t)
	tr := newTree(t, `
c /dev/null mode=0666 dev=1:3
b /dev/loop mode=0660 dev=7:0
l /etc/hostname target=/dev/null
p /etc/fifo
`)
	for _, name := range []string{"/dev/null", "/dev/loop", "/etc/fifo"} {
		w := watchOpens(t, tr.host(name))
		noBlock(t, "reading "+name, func() {
			for _, n := range []string{name, "/etc/hostname"} {
				_, err := vfs.ReadFile(tr.ctx, tr.root, n, 1024)
				wantErr(t, err, n, vfs.ErrNotRegular)
			}
			opts := file(0o644)
			opts.Policy = vfs.Append
			wantErr(t, tr.write(name, "x", opts), name, vfs.ErrNotRegular)
			if _, err := tr.root.Stat(tr.ctx, name); err != nil {
				t.Error(err)
			}
			if err := tr.root.Chmod(tr.ctx, name, 0o600); err != nil {
				t.Error(err)
			}
			if _, err := tr.root.Llistxattr(tr.ctx, name); err != nil {
				t.Error(err)
			}
		})
		if n := w.events(); n != 0 {
			t.Errorf("%s was opened or read: %d inotify events", name, n)
		}
		if name == "/dev/null" {
			// The watch does see a real open.
			f, err := os.Open(tr.host(name))
			if err != nil {
				t.Fatal(err)
			}
			f.Close()
			if w.events() == 0 {
				t.Fatal("inotify did not report opening the device node")
			}
		}
	}
	info, err := tr.root.Lstat(tr.ctx, "/dev/null")
	if err != nil {
		t.Fatal(err)
	}
	if a, _ := vfs.AttrOf(info); info.Mode() != fs.ModeDevice|fs.ModeCharDevice|0o600 || a.Rdev != unix.Mkdev(1, 3) {
		t.Errorf("lstat /dev/null: %v rdev %#x", info.Mode(), a.Rdev)
	}
}

func TestGiantSparseFile(t *testing.T) {
	tr := newTree(t, `
f /var/log/huge size=1G data="head"
l /etc/hostname target=/var/log/huge
`)
	start := time.Now()
	_, err := vfs.ReadFile(tr.ctx, tr.root, "/etc/hostname", 1<<20)
	wantErr(t, err, "/etc/hostname", vfs.ErrTooLarge)
	opts := file(0o644)
	opts.Policy, opts.MaxSize = vfs.Append, 1<<20
	wantErr(t, tr.write("/var/log/huge", "more", opts), "/var/log/huge", vfs.ErrTooLarge)
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("refusing a giant file took %v", d)
	}
	f, err := tr.root.Open(tr.ctx, "/var/log/huge")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	head := make([]byte, 6)
	if _, err := io.ReadFull(f, head); err != nil || string(head) != "head\x00\x00" {
		t.Errorf("start of the file: %q, %v", head, err)
	}
	info, err := f.Stat()
	if err != nil || info.Size() != 1<<30 || info.Name() != "huge" {
		t.Errorf("stat of the open file: %v, %v", info, err)
	}
}

func TestWriteNeverFollowsFinalSymlink(t *testing.T) {
	tr := newTree(t, `
f /run/target data="target\n"
l /etc/abs target=/run/target
l /etc/rel target=../run/target
l /etc/dangling target=/run/missing
l /etc/host target={{canary}}/secret
`)
	for _, name := range []string{"/etc/abs", "/etc/rel", "/etc/dangling", "/etc/host"} {
		for _, policy := range []vfs.WritePolicy{vfs.Replace, vfs.Append} {
			for _, inherit := range []bool{false, true} {
				opts := file(0o644)
				opts.Policy, opts.Inherit = policy, inherit
				wantErr(t, tr.write(name, "evil", opts), name, vfs.ErrIsSymlink)
			}
		}
		opts := file(0o644)
		opts.Policy = vfs.Exclusive
		wantErr(t, tr.write(name, "evil", opts), name, fs.ErrExist)
		if _, err := os.Readlink(tr.host(name)); err != nil {
			t.Errorf("%s is no longer a symlink: %v", name, err)
		}
	}
	if got := tr.hostContent("run/target"); got != "target\n" {
		t.Errorf("link target changed to %q", got)
	}
	if _, err := os.Lstat(tr.host("run/missing")); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("dangling link target was created: %v", err)
	}
}

func TestWriteAtomicAndClean(t *testing.T) {
	tr := newTree(t, `f /etc/shadow mode=0640 data="old\n" xattr.user.label="shadow_t"`)
	errBroken := errors.New("broken source")
	for _, policy := range []vfs.WritePolicy{vfs.Replace, vfs.Append, vfs.Exclusive} {
		opts := file(0o600)
		opts.Policy = policy
		r := io.MultiReader(strings.NewReader(strings.Repeat("partial", 100000)), &errReader{errBroken})
		wantErr(t, tr.root.WriteFile(tr.ctx, "/etc/shadow", r, opts), "/etc/shadow", errBroken)
		r = io.MultiReader(strings.NewReader("partial"), &errReader{errBroken})
		wantErr(t, tr.root.WriteFile(tr.ctx, "/etc/new", r, opts), "/etc/new", errBroken)
	}
	ctx, cancel := context.WithCancel(tr.ctx)
	cancel()
	err := tr.root.WriteFile(ctx, "/etc/shadow", strings.NewReader("x"), file(0o644))
	if !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled write: %v", err)
	}
	if got := tr.hostContent("etc/shadow"); got != "old\n" {
		t.Errorf("content after failed writes: %q", got)
	}
	entries, err := os.ReadDir(tr.host("etc"))
	if err != nil || len(entries) != 1 {
		t.Errorf("/etc holds %v, %v; want only shadow", entries, err)
	}
	// Replace and Inherit keep the label and mode, Replace alone does not.
	opts := file(0o644)
	opts.Inherit = true
	if err := tr.write("/etc/shadow", "new\n", opts); err != nil {
		t.Fatal(err)
	}
	label, err := tr.root.Lgetxattr(tr.ctx, "/etc/shadow", "user.label")
	if err != nil || string(label) != "shadow_t" {
		t.Errorf("label after inheriting replace: %q, %v", label, err)
	}
	if info, err := os.Stat(tr.host("etc/shadow")); err != nil || info.Mode() != 0o640 {
		t.Errorf("mode after inheriting replace: %v, %v", info, err)
	}
	if err := tr.write("/etc/shadow", "newer\n", file(0o604)); err != nil {
		t.Fatal(err)
	}
	if _, err := tr.root.Lgetxattr(tr.ctx, "/etc/shadow", "user.label"); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("label after plain replace: %v, want fs.ErrNotExist", err)
	}
	if info, err := os.Stat(tr.host("etc/shadow")); err != nil || info.Mode() != 0o604 {
		t.Errorf("mode after replace: %v, %v", info, err)
	}
}

// WithoutSync changes only when data reaches the disk: writes stay atomic,
// refuse what they refused and leave no temporary file.
func TestWithoutSync(t *testing.T) {
	tr := newTree(t, `f /etc/shadow mode=0640 data="old\n"
l /etc/link target={{canary}}/secret`, inroot.WithoutSync())
	errBroken := errors.New("broken source")
	r := io.MultiReader(strings.NewReader("partial"), &errReader{errBroken})
	wantErr(t, tr.root.WriteFile(tr.ctx, "/etc/shadow", r, file(0o600)), "/etc/shadow", errBroken)
	wantErr(t, tr.write("/etc/link", "x", file(0o644)), "/etc/link", vfs.ErrIsSymlink)
	if err := tr.write("/etc/shadow", "new\n", file(0o600)); err != nil {
		t.Fatal(err)
	}
	excl := file(0o644)
	excl.Policy = vfs.Exclusive
	if err := tr.write("/etc/fresh", "fresh\n", excl); err != nil {
		t.Fatal(err)
	}
	wantErr(t, tr.write("/etc/fresh", "again\n", excl), "/etc/fresh", fs.ErrExist)
	if err := tr.root.Rename(tr.ctx, "/etc/fresh", "/etc/moved"); err != nil {
		t.Fatal(err)
	}
	for name, want := range map[string]string{"etc/shadow": "new\n", "etc/moved": "fresh\n"} {
		if got := tr.hostContent(name); got != want {
			t.Errorf("%s = %q, want %q", name, got, want)
		}
	}
}

// BenchmarkWriteFile compares a small write with and without its syncs,
// in a directory of the host's temporary filesystem.
func BenchmarkWriteFile(b *testing.B) {
	for _, c := range []struct {
		name string
		opts []inroot.Option
	}{{"sync", nil}, {"without-sync", []inroot.Option{inroot.WithoutSync()}}} {
		b.Run(c.name, func(b *testing.B) {
			root, err := inroot.Open(b.TempDir(), c.opts...)
			if err != nil {
				b.Fatal(err)
			}
			defer root.Close()
			for b.Loop() {
				if err := root.WriteFile(b.Context(), "/f", strings.NewReader("data\n"), file(0o644)); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

type errReader struct{ err error }

func (r *errReader) Read([]byte) (int, error) { return 0, r.err }

func TestWriteOwnIDsWithoutPrivilege(t *testing.T) {
	tr := newTree(t, `d /etc`)
	opts := vfs.WriteOptions{Perm: fs.ModeSetgid | 0o750, UID: os.Getuid(), GID: os.Getgid()}
	if err := tr.write("/etc/mine", "x", opts); err != nil {
		t.Fatal(err)
	}
	info, err := os.Lstat(tr.host("etc/mine"))
	if err != nil {
		t.Fatal(err)
	}
	st := info.Sys().(*syscall.Stat_t)
	if int(st.Uid) != os.Getuid() || int(st.Gid) != os.Getgid() || info.Mode() != fs.ModeSetgid|0o750 {
		t.Errorf("owner %d:%d mode %v", st.Uid, st.Gid, info.Mode())
	}
}

func TestWriteForeignOwnerAsRoot(t *testing.T) {
	inroottest.RequireRoot(t)
	tr := newTree(t, `f /bin/tool mode=0755 owner=0:0 data="old"`)
	opts := vfs.WriteOptions{Perm: fs.ModeSetuid | 0o4755, UID: 1000, GID: 1001}
	if err := tr.write("/bin/tool", "new", opts); err != nil {
		t.Fatal(err)
	}
	info, err := os.Lstat(tr.host("bin/tool"))
	if err != nil {
		t.Fatal(err)
	}
	if st := info.Sys().(*syscall.Stat_t); st.Uid != 1000 || st.Gid != 1001 || info.Mode() != fs.ModeSetuid|0o755 {
		t.Errorf("owner %d:%d mode %v; set-id bits must survive the chown", st.Uid, st.Gid, info.Mode())
	}
}

func TestMkdirAllExactModeDespiteUmask(t *testing.T) {
	tr := newTree(t, `d /srv mode=2775`)
	old := unix.Umask(0o077)
	defer unix.Umask(old)
	if err := tr.root.MkdirAll(tr.ctx, "/srv/a/b", fs.ModeSticky|0o755); err != nil {
		t.Fatal(err)
	}
	for _, d := range []string{"srv/a", "srv/a/b"} {
		// The setgid bit the parent would pass on is not asked for.
		if info, err := os.Lstat(tr.host(d)); err != nil || info.Mode() != fs.ModeDir|fs.ModeSticky|0o755 {
			t.Errorf("mode of %s: %v, %v", d, info.Mode(), err)
		}
	}
}

func TestMkdirAllDanglingLinkInTheWay(t *testing.T) {
	tr := newTree(t, `l /home target=/var/home`)
	wantErr(t, tr.root.MkdirAll(tr.ctx, "/home/alice", 0o700), "/home/alice", fs.ErrExist)
	if _, err := os.Lstat(tr.host("var/home")); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("the link target was created: %v", err)
	}
}

func TestXattrsOnSymlinkAndRoot(t *testing.T) {
	tr := newTree(t, `
f /etc/target data="x"
l /etc/link target=/etc/target
`)
	wantErr(t, tr.root.Lsetxattr(tr.ctx, "/etc/link", "user.x", []byte("v")), "/etc/link", fs.ErrPermission)
	if err := tr.root.Lsetxattr(tr.ctx, "/", "user.root", []byte("r")); err != nil {
		t.Fatal(err)
	}
	var v [8]byte
	if n, err := unix.Getxattr(tr.guest, "user.root", v[:]); err != nil || string(v[:n]) != "r" {
		t.Errorf("root attribute on the host: %q, %v", v[:n], err)
	}
	names, err := tr.root.Llistxattr(tr.ctx, "/")
	if err != nil || !strings.Contains(strings.Join(names, ","), "user.root") {
		t.Errorf("llistxattr /: %v, %v", names, err)
	}
	_, err = tr.root.Lgetxattr(tr.ctx, "/etc/target", "user.none")
	wantErr(t, err, "/etc/target", fs.ErrNotExist)
	if os.Geteuid() != 0 {
		return
	}
	// trusted.* attributes are allowed on symlinks: they land on the link.
	if err := tr.root.Lsetxattr(tr.ctx, "/etc/link", "trusted.x", []byte("link")); err != nil {
		t.Fatal(err)
	}
	if n, err := unix.Lgetxattr(tr.host("etc/link"), "trusted.x", v[:]); err != nil || string(v[:n]) != "link" {
		t.Errorf("attribute of the link on the host: %q, %v", v[:n], err)
	}
	if _, err := unix.Getxattr(tr.host("etc/target"), "trusted.x", v[:]); err != unix.ENODATA {
		t.Errorf("the link's target got the attribute: %v", err)
	}
	got, err := tr.root.Lgetxattr(tr.ctx, "/etc/link", "trusted.x")
	if err != nil || string(got) != "link" {
		t.Errorf("lgetxattr of the link: %q, %v", got, err)
	}
}

func TestMiscRefusals(t *testing.T) {
	tr := newTree(t, `
f /etc/hostname data="guest\n"
d /etc/full
f /etc/full/x
`)
	wantErr(t, tr.root.Remove(tr.ctx, "/"), "/", fs.ErrPermission)
	wantErr(t, tr.root.Remove(tr.ctx, "/etc/full"), "/etc/full", vfs.ErrNotEmpty)
	wantErr(t, tr.root.Symlink(tr.ctx, "", "/etc/empty"), "/etc/empty", vfs.ErrInvalidPath)
	wantErr(t, tr.root.Symlink(tr.ctx, "a\x00b", "/etc/nul"), "/etc/nul", vfs.ErrInvalidPath)
	wantErr(t, tr.root.Symlink(tr.ctx, "x", "/"), "/", fs.ErrExist)
	_, err := tr.root.Readlink(tr.ctx, "/")
	wantErr(t, err, "/", fs.ErrInvalid)
	wantErr(t, tr.write("/", "x", file(0o644)), "/", vfs.ErrIsDir)
	opts := file(0o644)
	opts.Policy = 7
	wantErr(t, tr.write("/etc/hostname", "x", opts), "/etc/hostname", vfs.ErrNotSupported)
	if err := tr.root.Symlink(tr.ctx, strings.Repeat("../", 300)+"x", "/etc/long"); err != nil {
		t.Errorf("long relative target: %v", err)
	}
	if target, err := tr.root.Readlink(tr.ctx, "/etc/long"); err != nil || len(target) != 901 {
		t.Errorf("readlink of a long target: %d bytes, %v", len(target), err)
	}
}

func TestStatNamesAndSys(t *testing.T) {
	tr := newTree(t, `f /etc/hostname data="guest\n"`)
	for name, want := range map[string]string{"/": "/", "/etc": "etc", "/etc/hostname": "hostname"} {
		for _, stat := range []func(context.Context, string) (fs.FileInfo, error){tr.root.Stat, tr.root.Lstat} {
			info, err := stat(tr.ctx, name)
			if err != nil {
				t.Fatal(err)
			}
			a, ok := vfs.AttrOf(info)
			if info.Name() != want || !ok || a.UID != os.Getuid() || a.Nlink == 0 {
				t.Errorf("stat %s: name %q attr %+v %v", name, info.Name(), a, ok)
			}
		}
	}
}

func TestOpenFileClose(t *testing.T) {
	tr := newTree(t, `f /etc/hostname data="guest\n"`)
	f, err := tr.root.Open(tr.ctx, "/etc/hostname")
	if err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); !errors.Is(err, fs.ErrClosed) {
		t.Errorf("second close: %v", err)
	}
	if _, err := f.Stat(); err == nil {
		t.Error("stat after close succeeded")
	}
	if _, err := f.Read(make([]byte, 1)); err == nil || err == io.EOF {
		t.Errorf("read after close: %v", err)
	}
}

func TestCloseWaitsForCallsInFlight(t *testing.T) {
	tr := newTree(t, `d /etc`)
	started := make(chan struct{})
	release := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	var writeErr error
	go func() {
		defer wg.Done()
		writeErr = tr.root.WriteFile(tr.ctx, "/etc/slow", &gatedReader{started: started, release: release}, file(0o644))
	}()
	<-started
	if err := tr.root.Close(); err != nil {
		t.Fatal(err)
	}
	_, err := tr.root.Stat(tr.ctx, "/etc")
	wantErr(t, err, "/etc", vfs.ErrClosed)
	wantErr(t, tr.root.Close(), tr.guest, vfs.ErrClosed)
	close(release)
	wg.Wait()
	if writeErr != nil {
		t.Fatalf("write in flight during Close: %v", writeErr)
	}
	if got := tr.hostContent("etc/slow"); got != "slow" {
		t.Errorf("content %q", got)
	}
}

// gatedReader signals its first Read and then waits for release.
type gatedReader struct {
	started, release chan struct{}
	done             bool
}

func (r *gatedReader) Read(p []byte) (int, error) {
	if r.done {
		return 0, io.EOF
	}
	close(r.started)
	<-r.release
	r.done = true
	return copy(p, "slow"), nil
}

func TestConcurrentWriters(t *testing.T) {
	tr := newTree(t, `d /etc`)
	var wg sync.WaitGroup
	for i := range 8 {
		wg.Go(func() {
			for j := range 20 {
				name := "/etc/f" + string(rune('a'+i))
				data := strings.Repeat(string(rune('a'+j)), 1000)
				if err := tr.write(name, data, file(0o644)); err != nil {
					t.Error(err)
				}
				got, err := vfs.ReadFile(tr.ctx, tr.root, name, 2000)
				if err != nil || len(got) != 1000 || !bytes.Equal(got, bytes.Repeat(got[:1], 1000)) {
					t.Errorf("%s torn: %v", name, err)
				}
			}
		})
	}
	wg.Wait()
	entries, err := tr.root.ReadDir(tr.ctx, "/etc")
	if err != nil || len(entries) != 8 {
		t.Errorf("readdir: %d entries, %v", len(entries), err)
	}
}

func TestLogger(t *testing.T) {
	tr := newTree(t, `d /etc`)
	var buf bytes.Buffer
	r, err := inroot.Open(tr.guest, inroot.WithLogger(slog.New(slog.NewTextHandler(&buf, &slog.HandlerOptions{Level: slog.LevelDebug}))))
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	if err := r.WriteFile(tr.ctx, "/etc/motd", strings.NewReader("hi"), file(0o644)); err != nil {
		t.Fatal(err)
	}
	if _, err := r.Stat(tr.ctx, "/etc/motd"); err != nil {
		t.Fatal(err)
	}
	if err := r.MkdirAll(tr.ctx, "/srv/www", 0o755); err != nil {
		t.Fatal(err)
	}
	got := buf.String()
	for _, want := range []string{"msg=writefile path=/etc/motd policy=replace size=2 mode=-rw-r--r--", "msg=mkdirall path=/srv ", "msg=mkdirall path=/srv/www "} {
		if !strings.Contains(got, want) {
			t.Errorf("log lacks %q:\n%s", want, got)
		}
	}
	if strings.Contains(got, "stat") {
		t.Errorf("reads were logged:\n%s", got)
	}
}

func TestOpenMissingDir(t *testing.T) {
	_, err := inroot.Open(filepath.Join(t.TempDir(), "none"))
	if !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("open of a missing directory: %v", err)
	}
	f := filepath.Join(t.TempDir(), "file")
	if err := os.WriteFile(f, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := inroot.Open(f); !errors.Is(err, vfs.ErrNotDir) {
		t.Errorf("open of a file: %v", err)
	}
}

func TestUnprivileged(t *testing.T) {
	inroottest.RerunUnprivileged(t, "^Test", "^TestUnprivileged$")
}

// TestSwapRace swaps guest directories and files for symlinks to host
// paths while the backend works on them: whatever interleaving happens,
// nothing outside the root may change (the canary check of newTree).
func TestSwapRace(t *testing.T) {
	tr := newTree(t, `
d /etc
f /etc/x data="x"
f /etc/y data="y"
`)
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		// The attacker: /etc becomes a link to the canary directory, and
		// /etc/y a link to the canary's secret, over and over.
		etc, real := tr.host("etc"), tr.host("etc.real")
		y, yReal := tr.host("etc.real/y"), tr.host("etc.real/y.real")
		for {
			select {
			case <-stop:
				return
			default:
			}
			_ = os.Rename(etc, real)
			_ = os.Symlink(tr.canary+"/dir", etc)
			_ = os.Rename(y, yReal)
			_ = os.Symlink(tr.canary+"/secret", y)
			time.Sleep(50 * time.Microsecond)
			_ = os.Remove(etc)
			_ = os.Rename(real, etc)
			_ = os.Remove(tr.host("etc/y"))
			_ = os.Rename(tr.host("etc/y.real"), tr.host("etc/y"))
		}
	})
	deadline := time.Now().Add(time.Second)
	for time.Now().Before(deadline) {
		_ = tr.write("/etc/x", "new", file(0o666))
		_ = tr.root.Chmod(tr.ctx, "/etc/y", 0o777)
		_ = tr.root.Lchown(tr.ctx, "/etc/y", os.Getuid(), os.Getgid())
		_ = tr.root.Lsetxattr(tr.ctx, "/etc/y", "user.pwned", []byte("1"))
		_ = tr.root.MkdirAll(tr.ctx, "/etc/sub/dir", 0o777)
		_ = tr.root.Remove(tr.ctx, "/etc/sub/dir")
		_ = tr.root.Remove(tr.ctx, "/etc/file")
		opts := file(0o644)
		opts.Policy, opts.Inherit = vfs.Append, true
		_ = tr.write("/etc/y", "more", opts)
		if data, err := vfs.ReadFile(tr.ctx, tr.root, "/etc/y", 1024); err == nil && strings.Contains(string(data), "host secret") {
			t.Error("read the host's secret")
		}
	}
	close(stop)
	wg.Wait()
}
