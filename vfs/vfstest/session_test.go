package vfstest_test

import (
	"context"
	"encoding/json"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"sync"
	"testing"

	"github.com/guestinject/guestinject/mount"
	"github.com/guestinject/guestinject/vfs"
	"github.com/guestinject/guestinject/vfs/memfs"
	"github.com/guestinject/guestinject/vfs/vfstest"
)

// fileImage is an image kept in one host file, the JSON list of its nodes;
// a session works on a memfs copy of it.
type fileImage struct {
	file string
	// how the session misbehaves; "" for a correct session
	broken string
}

// memSession is a session over a memfs copy of a fileImage.
type memSession struct {
	*memfs.FS
	img   fileImage
	mu    sync.Mutex
	ended bool
}

func (s *memSession) Commit(ctx context.Context) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.ended && s.img.broken != "commits-twice" {
		return &fs.PathError{Op: "commit", Path: "/", Err: vfs.ErrClosed}
	}
	s.ended = true
	if err := s.img.save(ctx, s.FS); err != nil {
		return err
	}
	if s.img.broken == "commits-twice" {
		return nil // and the session stays usable
	}
	return s.FS.Close()
}

func (s *memSession) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.ended {
		return nil
	}
	s.ended = true
	if s.img.broken == "close-keeps" {
		if err := s.img.save(context.Background(), s.FS); err != nil {
			return err
		}
	}
	return s.FS.Close()
}

func (img fileImage) open(t *testing.T) vfs.Session {
	t.Helper()
	data, err := os.ReadFile(img.file)
	if err != nil {
		t.Fatal(err)
	}
	var nodes []memfs.Node
	if err := json.Unmarshal(data, &nodes); err != nil {
		t.Fatal(err)
	}
	m := memfs.New()
	for _, n := range nodes {
		if n.Path == "/" {
			continue
		}
		if err := m.Add(n); err != nil {
			t.Fatal(err)
		}
	}
	return &memSession{FS: m, img: img}
}

// save writes the tree of fsys to the image file, parents first.
func (img fileImage) save(ctx context.Context, fsys vfs.FS) error {
	var nodes []memfs.Node
	var walk func(name string) error
	walk = func(name string) error {
		info, err := fsys.Lstat(ctx, name)
		if err != nil {
			return err
		}
		n := memfs.Node{Path: name, Mode: info.Mode(), ModTime: info.ModTime()}
		switch {
		case info.Mode().IsRegular():
			if n.Data, err = vfs.ReadFile(ctx, fsys, name, 1<<20); err != nil {
				return err
			}
		case info.Mode()&fs.ModeSymlink != 0:
			if n.Target, err = fsys.Readlink(ctx, name); err != nil {
				return err
			}
		}
		nodes = append(nodes, n)
		if !info.IsDir() {
			return nil
		}
		entries, err := fsys.ReadDir(ctx, name)
		if err != nil {
			return err
		}
		for _, d := range entries {
			if err := walk(path.Join(name, d.Name())); err != nil {
				return err
			}
		}
		return nil
	}
	if err := walk("/"); err != nil {
		return err
	}
	data, err := json.Marshal(nodes)
	if err != nil {
		return err
	}
	tmp := img.file + ".tmp"
	if err := os.WriteFile(tmp, data, 0o600); err != nil {
		return err
	}
	return os.Rename(tmp, img.file)
}

// newFileImage builds a fileImage from the host tree root.
func newFileImage(t *testing.T, root, broken string) vfstest.SessionImage {
	t.Helper()
	img := fileImage{file: filepath.Join(t.TempDir(), "image.json"), broken: broken}
	dir, err := mount.OpenDir(root)
	if err != nil {
		t.Fatal(err)
	}
	defer dir.Close()
	if err := img.save(t.Context(), dir); err != nil {
		t.Fatal(err)
	}
	return vfstest.SessionImage{Open: img.open, Files: []string{img.file}}
}

func TestSessionReference(t *testing.T) {
	vfstest.RunSession(t, vfstest.SessionHarness{
		NewImage: func(t *testing.T, root string) vfstest.SessionImage { return newFileImage(t, root, "") },
	})
}

// TestBrokenSession runs the session section over the session named by
// VFSTEST_BROKEN_SESSION; it is a child of TestSessionCatchesBrokenSessions.
func TestBrokenSession(t *testing.T) {
	broken := os.Getenv("VFSTEST_BROKEN_SESSION")
	if broken == "" {
		t.Skip("entry point for TestSessionCatchesBrokenSessions")
	}
	vfstest.RunSession(t, vfstest.SessionHarness{
		NewImage: func(t *testing.T, root string) vfstest.SessionImage { return newFileImage(t, root, broken) },
	})
}

func TestSessionCatchesBrokenSessions(t *testing.T) {
	for _, tc := range []struct {
		broken string
		fail   []string
		say    []string
	}{
		{
			broken: "close-keeps",
			fail:   []string{"CloseDiscards"},
			say:    []string{"the image's files changed after Close without Commit", `content of /etc/hostname = "after\n", want "before\n"`},
		},
		{
			broken: "commits-twice",
			fail:   []string{"EndedFails"},
			say:    []string{"commit after commit: <nil>, want vfs.ErrClosed", "stat after commit: <nil>, want vfs.ErrClosed"},
		},
	} {
		t.Run(tc.broken, func(t *testing.T) {
			wantCaught(t, "TestBrokenSession", "VFSTEST_BROKEN_SESSION", tc.broken, tc.fail, tc.say)
		})
	}
}
