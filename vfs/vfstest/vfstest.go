package vfstest

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/guestinject/guestinject/vfs"
)

// Run checks that the backend h makes behaves as the vfs contract says:
// reads, every write policy, metadata changes, capabilities, errors,
// context handling, and a hostile section with host-path symlinks, ".."
// climbs, loops, FIFOs, device nodes and a giant sparse file. Every case
// builds a fresh backend, and afterwards asserts that nothing on the host
// outside the guest root changed.
func Run(t *testing.T, h Harness) {
	t.Helper()
	if h.New == nil {
		t.Fatal("vfstest: Harness.New is nil")
	}
	for _, group := range []struct {
		name  string
		cases []testCase
	}{
		{"Read", readCases},
		{"Write", writeCases},
		{"Meta", metaCases},
		{"Caps", capCases},
		{"Errors", errorCases},
		{"Hostile", hostileCases},
		{"Rename", renameCases},
		{"Times", timesCases},
		{"LstatMany", lstatManyCases},
	} {
		t.Run(group.name, func(t *testing.T) {
			for _, tc := range group.cases {
				t.Run(tc.name, func(t *testing.T) {
					if missing := tc.needs.missingFrom(h.Caps); missing != "" {
						t.Skipf("backend does not declare capability %s", missing)
					}
					e := open(t, h, tc.layout)
					tc.run(e)
				})
			}
		})
	}
}

// testCase is one check on a fresh backend built from layout.
type testCase struct {
	name   string
	needs  Caps
	layout string // text form; {{canary}} stands for the host canary directory
	run    func(e *env)
}

func (need Caps) missingFrom(have Caps) string {
	switch {
	case need.Owners && !have.Owners:
		return "Owners"
	case need.DeviceNodes && !have.DeviceNodes:
		return "DeviceNodes"
	case need.Xattrs && !have.Xattrs:
		return "Xattrs"
	case need.Symlinks && !have.Symlinks:
		return "Symlinks"
	case need.Renames && !have.Renames:
		return "Renames"
	case need.Times && !have.Times:
		return "Times"
	}
	return ""
}

// env is one case's backend with its host surroundings.
type env struct {
	*testing.T
	ctx    context.Context
	fsys   vfs.FS
	caps   Caps
	canary string // host directory the guest must never touch
}

// canaryLayout is the host tree next to the guest root that hostile
// layouts aim at.
const canaryLayout = `
f /secret mode=0600 data="host secret\n"
f /dir/file mode=0644 data="host file\n"
l /dir/link target=../secret
d /empty
`

func open(t *testing.T, h Harness, layoutText string) *env {
	base := t.TempDir()
	canary := filepath.Join(base, "canary")
	hostDir := filepath.Join(base, "root")
	for _, d := range []string{canary, hostDir} {
		if err := os.Mkdir(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if err := MustParseLayout(canaryLayout).WriteDir(canary); err != nil {
		t.Fatalf("vfstest: canary: %v", err)
	}
	layout, err := ParseLayout(strings.ReplaceAll(layoutText, "{{canary}}", canary))
	if err != nil {
		t.Fatalf("vfstest: %v", err)
	}
	before := SnapshotHost(t, base, hostDir)
	fsys := h.New(t, hostDir, layout)
	if fsys == nil {
		t.Fatal("vfstest: Harness.New returned nil")
	}
	t.Cleanup(func() {
		_ = fsys.Close()
		after := SnapshotHost(t, base, hostDir)
		if diff := cmp.Diff(before, after); diff != "" {
			t.Errorf("host outside the guest root changed (-before +after):\n%s", diff)
		}
	})
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	t.Cleanup(cancel)
	return &env{T: t, ctx: ctx, fsys: fsys, caps: h.Caps, canary: canary}
}

// HostNode is what SnapshotHost records of one host file.
type HostNode struct {
	Mode    fs.FileMode
	Size    int64
	ModTime time.Time
	UID     int
	GID     int
	Target  string
	SHA256  string
}

// SnapshotHost records every node under base (mode, owner, size, modification
// time, symlink target, content hash), skipping the directory skip when it
// is not "" — the guest root, which a backend may change as it likes.
// Compare two snapshots with cmp.Diff to prove a host tree untouched.
func SnapshotHost(t *testing.T, base, skip string) map[string]HostNode {
	t.Helper()
	snap := map[string]HostNode{}
	err := filepath.WalkDir(base, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if p == skip {
			return filepath.SkipDir
		}
		info, err := os.Lstat(p)
		if err != nil {
			return err
		}
		n := HostNode{Mode: info.Mode(), ModTime: info.ModTime()}
		if st, ok := info.Sys().(*syscall.Stat_t); ok {
			n.UID, n.GID = int(st.Uid), int(st.Gid)
		}
		switch {
		case info.Mode()&fs.ModeSymlink != 0:
			n.Target, err = os.Readlink(p)
		case info.Mode().IsRegular():
			n.Size = info.Size()
			var data []byte
			data, err = os.ReadFile(p)
			sum := sha256.Sum256(data)
			n.SHA256 = hex.EncodeToString(sum[:])
		}
		snap[strings.TrimPrefix(p, base)] = n
		return err
	})
	if err != nil {
		t.Fatalf("vfstest: snapshot of host: %v", err)
	}
	return snap
}

// wantErr checks that err is an *fs.PathError for name wrapping target.
func (e *env) wantErr(op, name string, err, target error) {
	e.Helper()
	if err == nil {
		e.Errorf("%s %s: succeeded, want error %v", op, name, target)
		return
	}
	if !errors.Is(err, target) {
		e.Errorf("%s %s: got %v, want %v", op, name, err, target)
	}
	var pe *fs.PathError
	if !errors.As(err, &pe) {
		e.Errorf("%s %s: error %v (%T) is not an *fs.PathError", op, name, err, err)
	} else if target != context.Canceled && pe.Path != name {
		e.Errorf("%s %s: error names path %q", op, name, pe.Path)
	}
}

func (e *env) noErr(op, name string, err error) {
	e.Helper()
	if err != nil {
		e.Fatalf("%s %s: %v", op, name, err)
	}
}

// read returns the content of the regular file name.
func (e *env) read(name string) string {
	e.Helper()
	data, err := vfs.ReadFile(e.ctx, e.fsys, name, 1<<20)
	e.noErr("read", name, err)
	return string(data)
}

func (e *env) wantContent(name, want string) {
	e.Helper()
	if got := e.read(name); got != want {
		e.Errorf("content of %s = %q, want %q", name, got, want)
	}
}

func (e *env) lstat(name string) fs.FileInfo {
	e.Helper()
	info, err := e.fsys.Lstat(e.ctx, name)
	e.noErr("lstat", name, err)
	return info
}

// wantMode checks the type, permission and special bits of name itself.
func (e *env) wantMode(name string, want fs.FileMode) {
	e.Helper()
	if got := e.lstat(name).Mode(); got != want {
		e.Errorf("mode of %s = %v, want %v", name, got, want)
	}
}

func (e *env) wantOwner(name string, uid, gid int) {
	e.Helper()
	a, ok := vfs.AttrOf(e.lstat(name))
	if !ok {
		e.Fatalf("lstat %s: FileInfo.Sys reports no owner", name)
	}
	if a.UID != uid || a.GID != gid {
		e.Errorf("owner of %s = %d:%d, want %d:%d", name, a.UID, a.GID, uid, gid)
	}
}

func (e *env) wantMissing(name string) {
	e.Helper()
	_, err := e.fsys.Lstat(e.ctx, name)
	if !errors.Is(err, fs.ErrNotExist) {
		e.Errorf("lstat %s: got %v, want fs.ErrNotExist", name, err)
	}
}

func (e *env) wantLink(name, target string) {
	e.Helper()
	got, err := e.fsys.Readlink(e.ctx, name)
	e.noErr("readlink", name, err)
	if got != target {
		e.Errorf("readlink %s = %q, want %q", name, got, target)
	}
}

// names lists a directory.
func (e *env) names(dir string) []string {
	e.Helper()
	entries, err := e.fsys.ReadDir(e.ctx, dir)
	e.noErr("readdir", dir, err)
	var names []string
	for _, d := range entries {
		names = append(names, d.Name())
	}
	return names
}

func (e *env) wantNames(dir string, want ...string) {
	e.Helper()
	if diff := cmp.Diff(want, e.names(dir)); diff != "" {
		e.Errorf("entries of %s (-want +got):\n%s", dir, diff)
	}
}

func (e *env) write(name, data string, opts vfs.WriteOptions) error {
	return e.fsys.WriteFile(e.ctx, name, strings.NewReader(data), opts)
}

// file is the options for a plain root-owned file (or one owned by the
// process, for backends that cannot set owners).
func (e *env) file(perm fs.FileMode) vfs.WriteOptions {
	o := vfs.WriteOptions{Perm: perm, UID: -1, GID: -1}
	if e.caps.Owners {
		o.UID, o.GID = 0, 0
	}
	return o
}

// within runs f and fails if it has not returned after d, for calls that
// must not block (a FIFO opened by mistake never returns).
func (e *env) within(d time.Duration, what string, f func()) {
	e.Helper()
	done := make(chan struct{})
	go func() {
		defer close(done)
		f()
	}()
	select {
	case <-done:
	case <-time.After(d):
		e.Fatalf("%s blocked for %v", what, d)
	}
}

// failingReader yields data and then err.
type failingReader struct {
	data []byte
	err  error
}

func (r *failingReader) Read(p []byte) (int, error) {
	if len(r.data) == 0 {
		return 0, r.err
	}
	n := copy(p, r.data)
	r.data = r.data[n:]
	return n, nil
}

// cancellingReader yields data once, then cancels its context and keeps
// yielding, so only a backend that watches the context stops.
type cancellingReader struct {
	cancel context.CancelFunc
	sent   int
}

func (r *cancellingReader) Read(p []byte) (int, error) {
	if r.sent > 0 {
		r.cancel()
	}
	if r.sent > 64<<20 {
		return 0, io.EOF
	}
	n := copy(p, bytes.Repeat([]byte{'x'}, len(p)))
	r.sent += n
	return n, nil
}
