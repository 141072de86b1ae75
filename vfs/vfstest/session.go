package vfstest

import (
	"bytes"
	"context"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/guestinject/guestinject/vfs"
)

// SessionHarness tells RunSession how to make an image and open sessions
// on it.
type SessionHarness struct {
	// NewImage builds a fresh guest image whose root holds the tree in
	// the host directory root (made with Layout.WriteDir; owners are
	// those of the files). RunSession opens several sessions on each
	// image, one after another, and ends every one it opens.
	NewImage func(t *testing.T, root string) SessionImage
}

// SessionImage is one image built by SessionHarness.NewImage.
type SessionImage struct {
	// Open opens a new session on the image; it fails the test when it
	// cannot.
	Open func(t *testing.T) vfs.Session
	// Files are the host files that make up the image. After a Close
	// without Commit they must be byte-for-byte as before the session.
	Files []string
}

// sessionLayout is the guest every session case starts from.
const sessionLayout = `
d /etc mode=0755
f /etc/hostname mode=0644 data="before\n"
f /etc/passwd mode=0644 data="root:x:0:0:root:/root:/bin/sh\n"
d /var mode=0755
f /var/old mode=0644 data="old\n"
`

// RunSession checks the Session contract on the backend h opens: Commit
// keeps every change, Close without Commit discards every change and
// leaves the image's files byte-for-byte unchanged, a second Commit fails,
// and every call after the session ended fails with ErrClosed.
func RunSession(t *testing.T, h SessionHarness) {
	t.Helper()
	if h.NewImage == nil {
		t.Fatal("vfstest: SessionHarness.NewImage is nil")
	}
	newImage := func(t *testing.T) SessionImage {
		root := filepath.Join(t.TempDir(), "root")
		if err := os.Mkdir(root, 0o755); err != nil {
			t.Fatal(err)
		}
		if err := MustParseLayout(sessionLayout).WriteDir(root); err != nil {
			t.Fatalf("vfstest: %v", err)
		}
		img := h.NewImage(t, root)
		if img.Open == nil {
			t.Fatal("vfstest: SessionImage.Open is nil")
		}
		return img
	}
	t.Run("CommitKeeps", func(t *testing.T) {
		img := newImage(t)
		e := sessionEnv(t, img.Open(t))
		changeSession(e)
		e.noErr("commit", "/", e.fsys.(vfs.Session).Commit(e.ctx))
		e = sessionEnv(t, img.Open(t))
		defer e.fsys.Close()
		e.wantContent("/etc/hostname", "after\n")
		e.wantContent("/srv/new/file", "new\n")
		e.wantMode("/srv/new", fs.ModeDir|0o750)
		e.wantMode("/etc/passwd", 0o600)
		e.wantMissing("/var/old")
	})
	t.Run("CloseDiscards", func(t *testing.T) {
		img := newImage(t)
		before := readFiles(t, img.Files)
		s := img.Open(t)
		e := sessionEnv(t, s)
		changeSession(e)
		if err := s.Close(); err != nil {
			t.Fatalf("Close: %v", err)
		}
		if after := readFiles(t, img.Files); !equalFiles(before, after) {
			t.Errorf("the image's files changed after Close without Commit")
		}
		e = sessionEnv(t, img.Open(t))
		defer e.fsys.Close()
		e.wantContent("/etc/hostname", "before\n")
		e.wantContent("/var/old", "old\n")
		e.wantMode("/etc/passwd", 0o644)
		e.wantMissing("/srv")
	})
	t.Run("EndedFails", func(t *testing.T) {
		img := newImage(t)
		for _, end := range []string{"commit", "close"} {
			s := img.Open(t)
			e := sessionEnv(t, s)
			if end == "commit" {
				e.noErr("commit", "/", s.Commit(e.ctx))
			} else if err := s.Close(); err != nil {
				t.Fatalf("Close: %v", err)
			}
			wantClosed(t, end, "stat", func() error { _, err := s.Stat(e.ctx, "/etc/hostname"); return err })
			wantClosed(t, end, "readdir", func() error { _, err := s.ReadDir(e.ctx, "/etc"); return err })
			wantClosed(t, end, "open", func() error { _, err := s.Open(e.ctx, "/etc/hostname"); return err })
			wantClosed(t, end, "writefile", func() error {
				return s.WriteFile(e.ctx, "/etc/late", strings.NewReader("late\n"), e.file(0o644))
			})
			wantClosed(t, end, "commit", func() error { return s.Commit(e.ctx) })
			if err := s.Close(); err != nil {
				t.Errorf("Close after %s: %v, want nil", end, err)
			}
		}
	})
}

// sessionEnv is an env around an open session; its context bounds every
// call the case makes, a boot included.
func sessionEnv(t *testing.T, s vfs.Session) *env {
	t.Helper()
	if s == nil {
		t.Fatal("vfstest: SessionImage.Open returned nil")
	}
	t.Cleanup(func() { _ = s.Close() })
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	t.Cleanup(cancel)
	return &env{T: t, ctx: ctx, fsys: s}
}

// changeSession makes one change of every kind: replace, create a
// directory and a file in it, chmod, remove.
func changeSession(e *env) {
	e.Helper()
	e.noErr("writefile", "/etc/hostname", e.write("/etc/hostname", "after\n", e.file(0o644)))
	e.noErr("mkdirall", "/srv/new", e.fsys.MkdirAll(e.ctx, "/srv/new", 0o750))
	e.noErr("writefile", "/srv/new/file", e.write("/srv/new/file", "new\n", e.file(0o644)))
	e.noErr("chmod", "/etc/passwd", e.fsys.Chmod(e.ctx, "/etc/passwd", 0o600))
	e.noErr("remove", "/var/old", e.fsys.Remove(e.ctx, "/var/old"))
	// The session sees its own changes before it ends.
	e.wantContent("/etc/hostname", "after\n")
	e.wantMissing("/var/old")
}

func wantClosed(t *testing.T, end, op string, call func() error) {
	t.Helper()
	if err := call(); !errors.Is(err, vfs.ErrClosed) {
		t.Errorf("%s after %s: %v, want vfs.ErrClosed", op, end, err)
	}
}

func readFiles(t *testing.T, names []string) [][]byte {
	t.Helper()
	var out [][]byte
	for _, n := range names {
		data, err := os.ReadFile(n)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, data)
	}
	return out
}

func equalFiles(a, b [][]byte) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if !bytes.Equal(a[i], b[i]) {
			return false
		}
	}
	return true
}
