package mount_test

import (
	"context"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/guestinject/guestinject/internal/testsupport/testimage"
	"github.com/guestinject/guestinject/mount"
	"github.com/guestinject/guestinject/vfs"
	"github.com/guestinject/guestinject/vfs/vfstest"
)

// TestDirSessionConformance runs the whole suite on the copy a
// DirSession serves: the copy must keep every hostile node as it was.
func TestDirSessionConformance(t *testing.T) {
	h := dirHarness()
	h.New = func(t *testing.T, hostDir string, layout vfstest.Layout) vfs.FS {
		// One level down, so that the copy beside the tree is inside the
		// directory the suite lets the backend change.
		tree := filepath.Join(hostDir, "tree")
		if err := os.Mkdir(tree, 0o755); err != nil {
			t.Fatal(err)
		}
		if err := layout.WriteDir(tree); err != nil {
			t.Fatalf("building the guest tree: %v", err)
		}
		s, err := mount.OpenDirSession(t.Context(), tree)
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	vfstest.Run(t, h)
}

// TestDirSession runs vfstest's session section on directory trees.
func TestDirSession(t *testing.T) {
	vfstest.RunSession(t, vfstest.SessionHarness{NewImage: func(t *testing.T, root string) vfstest.SessionImage {
		dir := filepath.Join(t.TempDir(), "tree")
		testimage.Run(t, "cp", "-a", root, dir)
		var files []string
		err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
			if err == nil && d.Type().IsRegular() {
				files = append(files, p)
			}
			return err
		})
		if err != nil {
			t.Fatal(err)
		}
		open := func(t *testing.T) vfs.Session {
			s, err := mount.OpenDirSession(t.Context(), dir)
			if err != nil {
				t.Fatal(err)
			}
			return s
		}
		return vfstest.SessionImage{Open: open, Files: files}
	}})
}

// The copy keeps what the tree holds and leaves nothing beside it.
func TestDirSessionCopiesAndCleansUp(t *testing.T) {
	parent := t.TempDir()
	dir := filepath.Join(parent, "tree")
	layout := `
d /etc mode=0755
f /etc/shadow mode=0640 data="root:*:1::::::\n"
f /usr/bin/su mode=04755 data="elf"
l /etc/localtime target=/usr/share/zoneinfo/UTC
l /escape target=../../../../etc/passwd
p /run/fifo mode=0600
`
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := vfstest.MustParseLayout(layout).WriteDir(dir); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	s, err := mount.OpenDirSession(ctx, dir)
	if err != nil {
		t.Fatal(err)
	}
	for name, want := range map[string]fs.FileMode{"/etc/shadow": 0o640, "/usr/bin/su": fs.ModeSetuid | 0o755, "/run/fifo": fs.ModeNamedPipe | 0o600} {
		if info, err := s.Lstat(ctx, name); err != nil || info.Mode() != want {
			t.Errorf("copy of %s: %v, %v; want mode %v", name, info, err, want)
		}
	}
	if target, err := s.Readlink(ctx, "/escape"); err != nil || target != "../../../../etc/passwd" {
		t.Errorf("copy of /escape: %q, %v", target, err)
	}
	if err := s.WriteFile(ctx, "/etc/hostname", strings.NewReader("new\n"), vfs.WriteOptions{Perm: 0o644, UID: -1, GID: -1}); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if entries, _ := os.ReadDir(parent); len(entries) != 1 {
		t.Errorf("after Close the parent holds %d entries, want the tree alone", len(entries))
	}
	after := vfstest.SnapshotHost(t, dir, "")
	if _, ok := after["etc/hostname"]; ok {
		t.Error("Close kept a write")
	}
}
