package inject

import (
	"bytes"
	"context"
	"errors"
	"io"
	"io/fs"
	"slices"
	"testing"
	"time"

	"go.uber.org/mock/gomock"

	"github.com/guestinject/guestinject/vfs"
	"github.com/guestinject/guestinject/vfs/vfsmock"
)

// fakeInfo is a FileInfo with an owner, for the mock.
type fakeInfo struct {
	name     string
	mode     fs.FileMode
	size     int64
	uid, gid int
}

func (f fakeInfo) Name() string       { return f.name }
func (f fakeInfo) Size() int64        { return f.size }
func (f fakeInfo) Mode() fs.FileMode  { return f.mode }
func (f fakeInfo) ModTime() time.Time { return time.Time{} }
func (f fakeInfo) IsDir() bool        { return f.mode.IsDir() }
func (f fakeInfo) Sys() any           { return &vfs.Attr{UID: f.uid, GID: f.gid, Nlink: 1} }

func notExist(name string) error {
	return &fs.PathError{Op: "lstat", Path: name, Err: fs.ErrNotExist}
}

// guestReads makes m answer planning's reads from a tree of root-owned
// directories and files: the planner resolves names one component at a
// time, so these are looked up by any path, any number of times. The
// tests that use it are about the order of the writes.
func guestReads(m *vfsmock.FS, dirs []string, files map[string]fakeInfo, content map[string]string) {
	m.EXPECT().Lstat(gomock.Any(), gomock.Any()).DoAndReturn(func(_ context.Context, name string) (fs.FileInfo, error) {
		if name == "/" || slices.Contains(dirs, name) {
			_, base := vfs.Split(name)
			return fakeInfo{name: base, mode: fs.ModeDir | 0o755}, nil
		}
		if f, ok := files[name]; ok {
			return f, nil
		}
		return nil, notExist(name)
	}).AnyTimes()
	m.EXPECT().Open(gomock.Any(), gomock.Any()).DoAndReturn(func(_ context.Context, name string) (vfs.File, error) {
		data, ok := content[name]
		if !ok {
			return nil, notExist(name)
		}
		return memFile{Reader: bytes.NewReader([]byte(data)), info: fakeInfo{size: int64(len(data))}}, nil
	}).AnyTimes()
}

// TestReplaceSetuidOwnerBeforeMode checks the order of calls when a file is
// replaced with a new owner and a setuid mode: content first (keeping the
// old file's labels), then owner, then mode, because chown clears set-id
// bits. Nothing is read while applying.
func TestReplaceSetuidOwnerBeforeMode(t *testing.T) {
	ctrl := gomock.NewController(t)
	m := vfsmock.NewFS(ctrl)
	ctx := context.Background()
	const name = "/usr/bin/tool"
	guestReads(m, []string{"/usr", "/usr/bin"}, map[string]fakeInfo{name: {name: "tool", mode: 0o644, size: 3, uid: 1000, gid: 1000}}, nil)
	plan, err := NewPlan(ctx, m, Spec{Files: []File{{Path: name, Content: []byte("new"), Mode: fs.ModeSetuid | 0o755}}})
	if err != nil {
		t.Fatal(err)
	}
	gomock.InOrder(
		m.EXPECT().WriteFile(gomock.Any(), name, gomock.Any(), vfs.WriteOptions{Policy: vfs.Replace, Inherit: true}).
			DoAndReturn(func(_ context.Context, _ string, r io.Reader, _ vfs.WriteOptions) error {
				data, err := io.ReadAll(r)
				if err != nil || string(data) != "new" {
					t.Errorf("content %q, %v", data, err)
				}
				return nil
			}),
		m.EXPECT().Lchown(gomock.Any(), name, 0, 0).Return(nil),
		m.EXPECT().Chmod(gomock.Any(), name, fs.ModeSetuid|0o755).Return(nil),
	)
	rep, err := plan.Apply(ctx, m)
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.Changes) != 3 {
		t.Errorf("report: %+v", rep.Changes)
	}
	if _, err := plan.Apply(ctx, m); !errors.Is(err, ErrApplied) {
		t.Errorf("second Apply = %v, want ErrApplied", err)
	}
}

// TestApplyStopsAtFirstError injects a full disk in the middle of a run.
func TestApplyStopsAtFirstError(t *testing.T) {
	ctrl := gomock.NewController(t)
	m := vfsmock.NewFS(ctrl)
	ctx := context.Background()
	guestReads(m, []string{"/etc"}, nil, nil)
	plan, err := NewPlan(ctx, m, Spec{Files: []File{{Path: "/etc/a"}, {Path: "/etc/b"}, {Path: "/etc/c"}}})
	if err != nil {
		t.Fatal(err)
	}
	full := &fs.PathError{Op: "write", Path: "/etc/b", Err: vfs.ErrNoSpace}
	newFile := vfs.WriteOptions{Policy: vfs.Replace, Perm: 0o644}
	gomock.InOrder(
		m.EXPECT().WriteFile(gomock.Any(), "/etc/a", gomock.Any(), newFile).Return(nil),
		m.EXPECT().WriteFile(gomock.Any(), "/etc/b", gomock.Any(), newFile).Return(full),
	)
	rep, err := plan.Apply(ctx, m)
	var ie *ItemError
	if !errors.Is(err, vfs.ErrNoSpace) || !errors.As(err, &ie) || ie.Item != (Item{Field: FieldFiles, Index: 1}) || ie.Path != "/etc/b" {
		t.Fatalf("Apply error = %v, want ErrNoSpace for files[1] /etc/b", err)
	}
	if len(rep.Changes) != 1 || rep.Changes[0].Path != "/etc/a" {
		t.Errorf("report: %+v", rep.Changes)
	}
	if len(rep.NotMade) != 2 || rep.NotMade[0].Path != "/etc/b" || rep.NotMade[0].Item != (Item{Field: FieldFiles, Index: 1}) ||
		rep.NotMade[1].Path != "/etc/c" || rep.NotMade[1].Item != (Item{Field: FieldFiles, Index: 2}) {
		t.Errorf("not made: %+v, want /etc/b (files[1]) then /etc/c (files[2])", rep.NotMade)
	}
}

// TestPasswordWritesShadowBeforePasswd checks that the old password stays
// in force if the run stops between the two writes.
func TestPasswordWritesShadowBeforePasswd(t *testing.T) {
	ctrl := gomock.NewController(t)
	m := vfsmock.NewFS(ctrl)
	ctx := context.Background()
	files := map[string]string{
		"/etc/passwd": "root:$6$old$inpasswd:0:0::/root:/bin/sh\n",
		"/etc/shadow": "root:*:1::::::\n",
	}
	guestReads(m, []string{"/etc"}, map[string]fakeInfo{
		"/etc/passwd": {name: "passwd", mode: 0o644, size: int64(len(files["/etc/passwd"]))},
		"/etc/shadow": {name: "shadow", mode: 0o600, size: int64(len(files["/etc/shadow"]))},
	}, files)
	plan, err := NewPlan(ctx, m, Spec{Now: testNow, Passwords: []Password{{Hash: "$5$saltsalt$" + string(bytes.Repeat([]byte("A"), 43))}}})
	if err != nil {
		t.Fatal(err)
	}
	gomock.InOrder(
		m.EXPECT().WriteFile(gomock.Any(), "/etc/shadow", gomock.Any(), inheritOpts).Return(nil),
		m.EXPECT().WriteFile(gomock.Any(), "/etc/passwd", gomock.Any(), inheritOpts).Return(&fs.PathError{Op: "write", Path: "/etc/passwd", Err: vfs.ErrIO}),
	)
	if _, err := plan.Apply(ctx, m); !errors.Is(err, vfs.ErrIO) {
		t.Fatalf("Apply = %v, want ErrIO", err)
	}
}

// TestApplyHonoursCancellation stops before the first write.
func TestApplyHonoursCancellation(t *testing.T) {
	ctrl := gomock.NewController(t)
	m := vfsmock.NewFS(ctrl)
	guestReads(m, []string{"/etc"}, nil, nil)
	plan, err := NewPlan(context.Background(), m, Spec{Files: []File{{Path: "/etc/a"}}})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	rep, err := plan.Apply(ctx, m)
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("Apply = %v, want context.Canceled", err)
	}
	if rep == nil || len(rep.Changes) != 0 || len(rep.NotMade) != 1 || rep.NotMade[0].Path != "/etc/a" {
		t.Errorf("report %+v, want nothing made and /etc/a not made", rep)
	}
}

type memFile struct {
	*bytes.Reader
	info fakeInfo
}

func (f memFile) Stat() (fs.FileInfo, error) { return f.info, nil }
func (f memFile) Close() error               { return nil }
