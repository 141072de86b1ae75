// Package appliancetest holds what the tests of every appliance launcher
// run the same way: the vfs conformance suite and its session section,
// one VM per case, and the small injection the launcher benchmarks time. The launcher is a
// parameter, so the direct QEMU launcher and the libvirt one are held to
// the same cases and timed on the same work.
package appliancetest

import (
	"context"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/guestinject/guestinject/appliance"
	"github.com/guestinject/guestinject/internal/testsupport/testimage"
	"github.com/guestinject/guestinject/vfs"
	"github.com/guestinject/guestinject/vfs/vfstest"
)

// OpenFunc opens a session: appliance.Open, or an appliance.Pool's Open.
type OpenFunc func(ctx context.Context, disks []vfs.Disk, opts ...appliance.Option) (*appliance.Session, error)

// Conformance runs the vfs conformance suite against appliances started
// by launcher (nil means the default launcher). Every case builds a raw
// ext4 image from its layout with mkfs.ext4 -d, in a directory from
// imageDir (t.TempDir when nil), and boots its own VM on it, so the
// hostile layouts meet the real guest kernel and agent.
func Conformance(t *testing.T, launcher appliance.Launcher, imageDir func(testing.TB) string) {
	ConformanceWith(t, appliance.Open, launcher, imageDir)
}

// ConformanceWith is Conformance with sessions opened by open.
func ConformanceWith(t *testing.T, open OpenFunc, launcher appliance.Launcher, imageDir func(testing.TB) string) {
	opts, imageDir := defaults(launcher, imageDir)
	root := os.Geteuid() == 0
	vfstest.Run(t, vfstest.Harness{
		New: func(t *testing.T, hostDir string, layout vfstest.Layout) vfs.FS {
			if err := layout.WriteDir(hostDir); err != nil {
				t.Fatal(err)
			}
			var data int64
			for _, e := range layout {
				data += int64(len(e.Data))
			}
			img := filepath.Join(imageDir(t), "disk.raw")
			sizeMiB := 64 + 2*data>>20
			testimage.Run(t, "mkfs.ext4", "-q", "-F", "-d", hostDir, img, strconv.FormatInt(sizeMiB, 10)+"M")
			// The guest root must hold exactly the layout.
			testimage.Run(t, "debugfs", "-w", "-R", "rmdir /lost+found", img)
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
			defer cancel()
			s, err := open(ctx, []vfs.Disk{{Path: img, Format: "raw"}}, opts...)
			if err != nil {
				t.Fatal(err)
			}
			return s
		},
		Caps: vfstest.Caps{Owners: root, DeviceNodes: root, Xattrs: true, Symlinks: true, Renames: true, Times: true},
	})
}

// defaults are the options that start VMs with launcher (nil means the
// default launcher) and the image directory (t.TempDir when nil).
func defaults(launcher appliance.Launcher, imageDir func(testing.TB) string) ([]appliance.Option, func(testing.TB) string) {
	if imageDir == nil {
		imageDir = func(t testing.TB) string { return t.TempDir() }
	}
	var opts []appliance.Option
	if launcher != nil {
		opts = append(opts, appliance.WithLauncher(launcher))
	}
	return opts, imageDir
}

// Session runs vfstest's session section against appliances started by
// launcher (nil means the default launcher) on raw ext4 images built in
// a directory from imageDir (t.TempDir when nil).
func Session(t *testing.T, launcher appliance.Launcher, imageDir func(testing.TB) string) {
	SessionWith(t, appliance.Open, launcher, imageDir)
}

// SessionWith is Session with sessions opened by openSession.
func SessionWith(t *testing.T, openSession OpenFunc, launcher appliance.Launcher, imageDir func(testing.TB) string) {
	opts, imageDir := defaults(launcher, imageDir)
	vfstest.RunSession(t, vfstest.SessionHarness{NewImage: func(t *testing.T, root string) vfstest.SessionImage {
		img := filepath.Join(imageDir(t), "disk.raw")
		testimage.Ext4(t, img, root, 64)
		open := func(t *testing.T) vfs.Session {
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
			defer cancel()
			s, err := openSession(ctx, []vfs.Disk{{Path: img, Format: "raw"}}, opts...)
			if err != nil {
				t.Fatal(err)
			}
			return s
		}
		return vfstest.SessionImage{Open: open, Files: []string{img}}
	}})
}

// WriteCommitImage builds, in dir, the raw ext4 image WriteCommit
// injects into, and returns its path.
func WriteCommitImage(t testing.TB, dir string) string {
	t.Helper()
	tree := filepath.Join(dir, "tree")
	testimage.WriteTree(t, tree, map[string]string{"etc/hostname": "bench\n", "root/": ""})
	img := filepath.Join(dir, "disk.raw")
	testimage.Ext4(t, img, tree, 64)
	return img
}

// WriteCommit is the small injection the launcher benchmarks time: Open
// the raw image img with launcher (nil means the default), write a host
// name, create /root/.ssh and an authorized_keys in it, Commit.
func WriteCommit(ctx context.Context, launcher appliance.Launcher, img string) error {
	return WriteCommitWith(ctx, appliance.Open, launcher, img)
}

// WriteCommitWith is WriteCommit with the session opened by open.
func WriteCommitWith(ctx context.Context, open OpenFunc, launcher appliance.Launcher, img string) error {
	var opts []appliance.Option
	if launcher != nil {
		opts = append(opts, appliance.WithLauncher(launcher))
	}
	s, err := open(ctx, []vfs.Disk{{Path: img, Format: "raw"}}, opts...)
	if err != nil {
		return err
	}
	defer s.Close()
	if err := s.WriteFile(ctx, "/etc/hostname", strings.NewReader("host\n"), vfs.WriteOptions{Perm: 0o644}); err != nil {
		return err
	}
	if err := s.MkdirAll(ctx, "/root/.ssh", 0o700); err != nil {
		return err
	}
	if err := s.WriteFile(ctx, "/root/.ssh/authorized_keys", strings.NewReader("ssh-ed25519 AAAA k\n"), vfs.WriteOptions{Perm: 0o600}); err != nil {
		return err
	}
	return s.Commit(ctx)
}

// ReadWriteCommit is the round trip every launcher's end-to-end test
// makes on s, a session on the raw ext4 image img whose /etc/hostname is
// "old-host" and which has /root: it reads the host name, replaces it,
// creates /root/.ssh with an authorized_keys, commits, and reads the
// results back from img with debugfs alone.
func ReadWriteCommit(ctx context.Context, t *testing.T, s *appliance.Session, img string) {
	t.Helper()
	got, err := vfs.ReadFile(ctx, s, "/etc/hostname", 1<<10)
	if err != nil || string(got) != "old-host\n" {
		t.Fatalf("ReadFile(/etc/hostname) = %q, %v", got, err)
	}
	if err := s.WriteFile(ctx, "/etc/hostname", strings.NewReader("new-host\n"), vfs.WriteOptions{Perm: 0o644, UID: -1, GID: -1}); err != nil {
		t.Fatal(err)
	}
	if err := s.MkdirAll(ctx, "/root/.ssh", 0o700); err != nil {
		t.Fatalf("%v\n%s", err, s.Console())
	}
	key := "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIExample test@example\n"
	if err := s.WriteFile(ctx, "/root/.ssh/authorized_keys", strings.NewReader(key), vfs.WriteOptions{Perm: 0o600, UID: 0, GID: 0}); err != nil {
		t.Fatal(err)
	}
	if err := s.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	debugfs := func(request string) string { return testimage.Run(t, "debugfs", "-R", request, img) }
	if got := debugfs("cat /etc/hostname"); got != "new-host\n" {
		t.Errorf("debugfs cat /etc/hostname = %q", got)
	}
	if got := debugfs("cat /root/.ssh/authorized_keys"); got != key {
		t.Errorf("debugfs cat authorized_keys = %q", got)
	}
	if st := debugfs("stat /root/.ssh/authorized_keys"); !strings.Contains(st, "Mode:  0600") {
		t.Errorf("authorized_keys mode: %s", st)
	}
	if st := debugfs("stat /root/.ssh"); !strings.Contains(st, "Mode:  0700") {
		t.Errorf(".ssh mode: %s", st)
	}
}
